"""Numbers in a by-hand drill: reading an answer, the three-significant-digit rule, printing.

Reading an answer (:func:`parse_answer`). An answer is read exactly, as a fraction, from one of

- a decimal: ``0.315``, ``-0.126``, ``.5``, ``3.``, ``+2``;
- scientific notation: ``1.26e-1``, ``-3E2`` (an exponent of at most three digits);
- a quotient of two of those: ``1/3``, ``-2.5/4``, ``1 / 8e-1``.

A minus may also be written as the Unicode minus sign (U+2212) that word processors produce.
Anything else (``abc``, ``0,63``, ``1/0``, ``nan``, ``tanh(0.5)``) is malformed, with a reason.

The rule (:func:`agrees`). An answer ``a`` agrees with the true value ``t`` to three
significant digits when

    |a - t| <= u,   u = 10**(e - 2),   e = floor(log10 |t|),

that is, when it is at most one unit of the third significant digit of ``t`` away from ``t``
(boundary included; the comparison is exact, in fractions). For ``t = 0.62916`` the unit is
0.001, so 0.629, 0.630 (or 0.63) and 0.6292 agree and 0.628 does not. This accepts the
correctly rounded value, the truncated one, and a last digit moved by one when intermediate
values were rounded on paper; a wrong sign or a wrong second digit never agrees. A true value
of exactly 0 (the gradient through a ReLU that is off) is matched only by an answer of 0.
"""

from __future__ import annotations

import math
import numbers
import re
from decimal import Decimal
from fractions import Fraction

DIGITS = 3
MAX_ANSWER_LENGTH = 100

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?"
_ANSWER = re.compile(rf"\s*(?P<num>{_NUMBER})(?:\s*/\s*(?P<den>{_NUMBER}))?\s*")


class AnswerError(ValueError):
    """An answer that is not a number in one of the accepted forms; the message says why."""


def parse_answer(text: str) -> Fraction:
    """Read an answer written as a decimal, in scientific notation or as a quotient ``p/q``.

    Returns the exact value as a ``Fraction`` (``"0.1"`` is 1/10, not the nearest float).
    Raises :class:`AnswerError` naming what is wrong when ``text`` is none of those forms.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_answer: text must be a str, got {type(text).__name__}")
    if len(text) > MAX_ANSWER_LENGTH:
        raise AnswerError(f"too long ({len(text)} characters); write a number such as 0.315")
    cleaned = text.replace("\u2212", "-").strip()
    if not cleaned:
        raise AnswerError("empty; write a number such as 0.315")
    match = _ANSWER.fullmatch(cleaned)
    if match is None:
        raise AnswerError(f"{cleaned!r}; {_hint(cleaned)}")
    value = Fraction(Decimal(match["num"]))
    if match["den"] is not None:
        denominator = Fraction(Decimal(match["den"]))
        if denominator == 0:
            raise AnswerError(f"{cleaned!r} divides by zero")
        value /= denominator
    return value


def _hint(text: str) -> str:
    if re.fullmatch(r"[+-]?\d+,\d+", text):
        return "write the decimal separator as a point, e.g. 0.63"
    if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        return "a gradient here is a finite number"
    return "write a decimal (-0.126), scientific notation (1.26e-1) or a fraction (1/3)"


def as_fraction(value: object, where: str = "answer") -> Fraction:
    """An answer given in Python (a str, an int, a float, a Fraction, a Decimal) as a fraction.

    A float counts as the decimal it prints as (``0.63`` is 63/100), which is what was typed.
    Strings go through :func:`parse_answer`. Raises :class:`AnswerError` for a malformed string
    or a non-finite number, and ``TypeError`` for anything that is not a number (``bool``
    included).
    """
    if isinstance(value, str):
        return parse_answer(value)
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, Decimal)):
        raise TypeError(f"{where} must be a number or a string such as '0.315', "
                        f"got {type(value).__name__}")
    if isinstance(value, numbers.Rational):
        return Fraction(int(value.numerator), int(value.denominator))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise AnswerError(f"{value} is not a finite number")
        return Fraction(value)
    as_float = float(value)
    if not math.isfinite(as_float):
        raise AnswerError(f"{as_float} is not a finite number")
    return Fraction(Decimal(repr(as_float)))


def unit(truth: float, digits: int = DIGITS) -> Fraction:
    """One unit of the ``digits``-th significant digit of ``truth`` (nonzero, finite), exactly."""
    exponent = Decimal(truth).adjusted()   # floor(log10 |truth|), computed without rounding
    return Fraction(10) ** (exponent - (digits - 1))


def agrees(answer: Fraction | float | int, truth: float, digits: int = DIGITS) -> bool:
    """True when ``answer`` is within one unit of the ``digits``-th significant digit of ``truth``.

    ``truth`` is a finite float; a true value of 0 is matched only by 0. See the module
    docstring for the rule and why it is this one.
    """
    if not math.isfinite(truth):
        raise ValueError(f"agrees: truth must be finite, got {truth}")
    answer = answer if isinstance(answer, Fraction) else as_fraction(answer)
    if truth == 0:
        return answer == 0
    return abs(answer - Fraction(truth)) <= unit(truth, digits)


def fmt(value: float, digits: int = 5) -> str:
    """``value`` with at most ``digits`` significant digits, trailing zeros dropped: 0.46212, 2."""
    if value == 0:
        return "0"
    return f"{value:.{digits}g}"


def rounded(value: float, digits: int = DIGITS) -> str:
    """``value`` rounded to ``digits`` significant digits, trailing zeros kept: 0.630, 2.00."""
    if value == 0:
        return "0"
    text = f"{value:#.{digits}g}"
    return text[:-1] if text.endswith(".") else text


def term(value: float, digits: int = 5) -> str:
    """:func:`fmt`, in parentheses when negative, for use inside a product or a sum."""
    text = fmt(value, digits)
    return f"({text})" if value < 0 else text


def vector(values: tuple[float, ...], digits: int = 5) -> str:
    """A tuple of numbers as ``(1, -0.5, 2)``."""
    return "(" + ", ".join(fmt(v, digits) for v in values) + ")"


def given_number(value: object, name: str, where: str) -> float:
    """``value`` as a finite float, or a ``TypeError``/``ValueError`` naming where and what."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, Decimal)):
        raise TypeError(f"{where}: {name} must be a number, got {type(value).__name__}")
    as_float = float(value)
    if not math.isfinite(as_float):
        raise ValueError(f"{where}: {name} must be finite, got {as_float}")
    return as_float


def given_numbers(values: object, name: str, where: str, low: int, high: int) -> list[float]:
    """``values`` (a list, a tuple, a 1-d NumPy array) as ``low`` to ``high`` finite floats."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") \
            or not hasattr(values, "__iter__") or getattr(values, "ndim", 1) != 1:
        raise TypeError(f"{where}: {name} must be a sequence of numbers, got "
                        f"{type(values).__name__}")
    items = list(values)
    if not low <= len(items) <= high:
        raise ValueError(f"{where}: {name} must hold {low} to {high} numbers, got {len(items)}")
    return [given_number(v, f"{name}[{i}]", where) for i, v in enumerate(items)]

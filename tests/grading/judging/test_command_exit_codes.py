"""The same error gives the same exit code in every command (0 ok, 1 not all passed, 2 usage
or input error), and an unknown op gets a "did you mean"."""

from __future__ import annotations

from pathlib import Path

import pytest

from handgrad.cli import main
from handgrad.gradcheck import check_op


def test_a_bad_assignment_is_an_input_error_for_assign_and_grade(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture
                                                                 ) -> None:
    missing = tmp_path / "no-such-assignment"
    (tmp_path / "subs").mkdir()
    assert main(["assign", str(missing), "--out", str(tmp_path / "starter")]) == 2
    assert main(["grade", str(missing), str(tmp_path / "subs"), "--out",
                 str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "handgrad assign:" in err and "handgrad grade:" in err and "Traceback" not in err


def test_an_unknown_op_is_a_usage_error_with_a_suggestion(capsys: pytest.CaptureFixture
                                                          ) -> None:
    assert main(["gradcheck", "softmax"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'softmax_cross_entropy'" in err


def test_check_op_suggests_the_right_names() -> None:
    with pytest.raises(KeyError, match="did you mean 'softmax_cross_entropy' or "
                       "'temporal_softmax_cross_entropy'"):
        check_op("softmax")


def test_an_assignment_error_of_the_same_kind_has_the_same_code_in_check(tmp_path: Path
                                                                         ) -> None:
    assert main(["check", str(tmp_path / "nowhere")]) == 2

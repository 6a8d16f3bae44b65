"""The one "did you mean" helper every error message uses (errors.did_you_mean)."""

from cnnshape.errors import close_matches, did_you_mean


def test_a_case_slip_wins_over_closer_spellings():
    assert close_matches("batchnorm2d", ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d"]) == ["BatchNorm2d"]


def test_equally_close_names_are_all_offered():
    # "BatchNorm" is one insertion away from each of the three, so none is closer.
    assert did_you_mean("BatchNorm", ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "ReLU"], n=3) == (
        "; did you mean 'BatchNorm1d', 'BatchNorm2d' or 'BatchNorm3d'?"
    )


def test_nothing_close_and_non_strings_give_no_hint():
    assert did_you_mean("zzz", ["stride", "padding"]) == ""
    assert did_you_mean(5, ["stride"]) == ""
    assert did_you_mean("stride", []) == ""


def test_spell_writes_the_name_as_the_user_types_it():
    assert did_you_mean("kernel_sise", ["kernel_size", "stride"], spell=lambda n: "--" + n.replace("_", "-")) == (
        "; did you mean '--kernel-size'?"
    )

from __future__ import annotations

import pytest

from tunesmith.config import SplitConfig
from tunesmith.data.split import assign_splits
from tunesmith.errors import ConfigError

IDS = [f"piece{i:03d}.mid" for i in range(200)]


def test_every_piece_gets_one_split_in_proportion():
    splits = assign_splits(
        IDS, [None] * len(IDS), SplitConfig(valid_fraction=0.1, test_fraction=0.15)
    )
    assert len(splits) == len(IDS)
    assert splits.count("valid") == 20
    assert splits.count("test") == 30
    assert splits.count("train") == 150


def test_deterministic_under_seed_and_independent_of_order():
    cfg = SplitConfig(seed=7)
    a = dict(zip(IDS, assign_splits(IDS, [None] * len(IDS), cfg)))
    rev = IDS[::-1]
    b = dict(zip(rev, assign_splits(rev, [None] * len(rev), cfg)))
    assert a == b
    c = dict(zip(IDS, assign_splits(IDS, [None] * len(IDS), SplitConfig(seed=8))))
    assert a != c


def test_adding_a_piece_moves_few_others():
    cfg = SplitConfig()
    before = dict(zip(IDS, assign_splits(IDS, [None] * len(IDS), cfg)))
    more = [*IDS, "new.mid"]
    after = dict(zip(more, assign_splits(more, [None] * len(more), cfg)))
    moved = sum(before[i] != after[i] for i in IDS)
    assert moved <= 3


def test_fixed_splits_are_kept_and_others_assigned():
    fixed = ["test" if i % 2 else None for i in range(len(IDS))]
    splits = assign_splits(IDS, fixed, SplitConfig())
    assert all(s == "test" for s, f in zip(splits, fixed) if f == "test")
    free = [s for s, f in zip(splits, fixed) if f is None]
    assert set(free) == {"train", "valid", "test"}


def test_small_corpora_still_get_valid_and_test():
    splits = assign_splits(["a", "b", "c"], [None] * 3, SplitConfig())
    assert sorted(splits) == ["test", "train", "valid"]
    assert assign_splits(["a", "b"], [None] * 2, SplitConfig()) == ["train", "train"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("valid_fraction", -0.1), ("test_fraction", 1.0), ("seed", "x"), ("valid_fraction", 0.95)],
)
def test_bad_split_config_names_the_field(field, value):
    with pytest.raises(ConfigError, match=field.split("_")[0]):
        SplitConfig.from_dict({field: value})

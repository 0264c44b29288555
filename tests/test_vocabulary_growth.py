"""Growing vocabularies: FieldEncoder.partial_fit appends new values and keeps every index; tables keep their rows."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from skctr.fields import OOV_INDEX, FieldSpec, growth_mismatch, spec_mismatch
from skctr.nn import KDEF, CETNet, FieldEmbedding, grown_optimizer_state, grown_state
from skctr.preprocessing import FieldEncoder, VocabularyEncoder


def day(users, items, prices=None, tags=None):
    frame = pd.DataFrame({"user": users, "item": items})
    if prices is not None:
        frame["price"] = prices
    if tags is not None:
        frame["tags"] = tags
    return frame


DAY_1 = day([1, 2, 2, 3], ["a", "b", "a", "a"], [1.0, 2.0, 3.0, 4.0], [["x"], ["y", "x"], [], None])
DAY_2 = day([4, 4, 2, 5], ["c", "b", "a", "c"], [9.0, 2.0, 3.0, 40.0], [["z"], ["y", "w"], [], ["x"]])


def encoder(**params):
    return FieldEncoder(sequence_order="newest_first", **params)


def test_growth_appends_new_values_and_keeps_every_index():
    enc = encoder().fit(DAY_1)
    before, spec = enc.transform(DAY_1), enc.field_spec_
    kept = {column: list(values) for column, values in enc.vocabularies_.items()}
    enc.partial_fit(DAY_2)
    for column, values in kept.items():
        assert enc.vocabularies_[column][: len(values)] == values  # old values first, in their order
    assert enc.vocabularies_["user"][3:] == [4, 5] and enc.vocabularies_["item"][2:] == ["c"]
    assert enc.vocabularies_["tags"] == ["x", "y", "w", "z"]  # x and y kept; w and z, once each, by str
    np.testing.assert_array_equal(enc.transform(DAY_1), before)
    assert growth_mismatch(enc.field_spec_, spec) is None
    assert spec_mismatch(enc.field_spec_, spec) is not None


def test_a_new_value_is_not_out_of_vocabulary_after_growth():
    enc = encoder().fit(DAY_1)
    new = day([5], ["c"], [1.0], [["w"]])
    assert (enc.transform(new)[0, [0, 1, 3]] == OOV_INDEX).all()
    enc.partial_fit(DAY_2)
    assert (enc.transform(new)[0, [0, 1, 3]] > OOV_INDEX).all()


def test_the_layout_and_the_scaling_stay_those_of_the_first_fit():
    enc = encoder().fit(DAY_1)
    scaled = enc.transform(DAY_1)[:, 2].copy()
    enc.partial_fit(DAY_2.assign(tags=[["z"] * 5, [], [], None]))  # a longer cell: truncated, no new column
    assert enc.field_spec_[3].max_len == 2
    np.testing.assert_array_equal(enc.transform(DAY_1)[:, 2], scaled)
    assert enc.field_spec_[2].lineage == encoder().fit(DAY_1).field_spec_[2].lineage


def test_min_frequency_counts_every_call():
    enc = FieldEncoder(min_frequency=2).fit(day([1, 1, 7], ["a", "a", "a"]))
    assert 7 not in enc.vocabularies_["user"]
    enc.partial_fit(day([7, 8], ["a", "a"]))  # 7 now seen twice, 8 once
    assert enc.vocabularies_["user"] == [1, 7]


def test_max_categories_bounds_the_grown_vocabulary():
    enc = FieldEncoder(max_categories=2).fit(day([1, 1, 2], ["a", "a", "a"]))
    enc.partial_fit(day([3, 3, 3, 3], ["a"] * 4))
    assert enc.vocabularies_["user"] == [1, 2]  # full: kept values are never dropped
    enc = FieldEncoder(max_categories=3).fit(day([1, 1, 2], ["a", "a", "a"]))
    enc.partial_fit(day([3, 4, 4], ["a"] * 3))
    assert enc.vocabularies_["user"] == [1, 2, 4]


def test_growth_converts_text_ids_as_transform_does():
    enc = FieldEncoder().fit(day([1, 2], ["a", "b"]))
    enc.partial_fit(day(["3", "1"], ["a", "b"]))  # ids sent as text on the second day
    assert enc.vocabularies_["user"] == [1, 2, 3]


def test_sequence_targets_share_grown_rows():
    first = pd.DataFrame({"item": [1, 2], "history": [[1], [2, 1]]})
    enc = FieldEncoder(sequence={"history": {"target": "item"}}, sequence_order="newest_first").fit(first)
    enc.partial_fit(pd.DataFrame({"item": [3, 1], "history": [[4], [3]]}))
    assert enc.vocabularies_["item"] == enc.vocabularies_["history"] == [1, 2, 3, 4]
    assert enc.field_spec_[0].vocab_size == enc.field_spec_[1].vocab_size == 7


def test_extra_columns_warn_and_missing_columns_fail():
    enc = encoder().fit(DAY_1)
    with pytest.warns(UserWarning, match=r"Columns \['extra'\] were not seen in the first fit"):
        enc.partial_fit(DAY_2.assign(extra=1))
    with pytest.raises(ValueError, match=r"Columns \['price'\] seen in fit are missing"):
        enc.partial_fit(DAY_2.drop(columns="price"))


def test_partial_fit_on_an_unfitted_encoder_is_fit():
    grown, fitted = encoder().partial_fit(DAY_1), encoder().fit(DAY_1)
    np.testing.assert_array_equal(grown.transform(DAY_2), fitted.transform(DAY_2))


def test_warm_start_makes_fit_grow():
    enc = encoder(warm_start=True).fit(DAY_1)
    enc.fit(DAY_2)
    assert enc.vocabularies_["user"] == [2, 1, 3, 4, 5]
    assert encoder().fit(DAY_1).fit(DAY_2).vocabularies_["user"] == [4, 2, 5]


def test_handle_unknown_error_learns_the_new_values():
    enc = encoder(handle_unknown="error").fit(DAY_1)
    with pytest.raises(ValueError, match="not seen in fit"):
        enc.transform(DAY_2)
    enc.partial_fit(DAY_2)
    enc.transform(DAY_2)


def test_the_vocabulary_document_encodes_grown_rows_alike():
    enc = encoder().fit(DAY_1).partial_fit(DAY_2)
    ids, values = VocabularyEncoder(enc.vocabulary_json()).transform(DAY_2)
    expected_ids, expected_values = enc.field_spec_.split_columns(enc.transform(DAY_2))
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(values, expected_values, rtol=1e-6)


def test_parquet_growth_equals_in_memory_growth(tmp_path):
    DAY_2.to_parquet(tmp_path / "day2.parquet")
    streamed = encoder().fit(DAY_1).partial_fit(tmp_path / "day2.parquet")
    in_memory = encoder().fit(DAY_1).partial_fit(DAY_2)
    assert streamed.vocabularies_ == in_memory.vocabularies_


def test_a_refitted_encoder_is_not_a_growth():
    spec = encoder().fit(DAY_1).field_spec_
    refitted = encoder().fit(pd.concat([DAY_1, DAY_2])).field_spec_
    assert "fitted afresh" in growth_mismatch(refitted, spec)
    # Same sizes, other values: the digest tells them apart.
    other = encoder().fit(DAY_1.assign(item=["q", "r", "q", "q"])).field_spec_
    assert "other vocabularies" in spec_mismatch(other, spec)
    assert spec_mismatch(FieldSpec(list(spec)), spec) is None  # the same fields, lineage included


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.integers(0, 30), min_size=1, max_size=15), min_size=1, max_size=5),
       st.integers(1, 3))
def test_growth_over_any_days_keeps_indices_and_reaches_the_threshold(days, min_frequency):
    """Every value keeps its first index; after the last day, exactly the values counted min_frequency times
    over all days are kept."""
    enc = FieldEncoder(min_frequency=min_frequency)
    seen, index = [], {}
    for values in days:
        enc.partial_fit(pd.DataFrame({"id": values}))
        seen += values
        vocabulary = enc.vocabularies_["id"]
        for value, position in index.items():
            assert vocabulary[position] == value
        index = {value: position for position, value in enumerate(vocabulary)}
    counts = pd.Series(seen).value_counts()
    assert set(index) == set(counts[counts >= min_frequency].index)


# ------------------------------------------------------------------ tables

def grown_specs():
    enc = encoder().fit(DAY_1)
    old = enc.field_spec_
    return old, enc.partial_fit(DAY_2).field_spec_


@pytest.mark.parametrize("build", [
    lambda spec: KDEF(spec, 4, students=["mlp", "dcnv2"], shared_params={"hidden_units": (8,)}),
    lambda spec: CETNet(spec, 4, components=["mlp", "final"], shared_params={"hidden_units": (8,)}),
], ids=["kdef", "cetnet (a table per component)"])
def test_grown_state_keeps_learned_rows_bit_for_bit(build):
    old_spec, new_spec = grown_specs()
    torch.manual_seed(0)
    trained = build(old_spec)
    with torch.no_grad():
        for p in trained.parameters():
            p.normal_()  # "learned" weights, unlike any initialisation
        for m in trained.modules():
            if isinstance(m, FieldEmbedding):  # a penalty clock at step 50
                m.penalty_step.fill_(50)
                m.last_penalised.random_(1, 50)
    torch.manual_seed(1)
    grown = build(new_spec)
    initial = {k: v.clone() for k, v in grown.state_dict().items()}
    state, table_rows = grown_state(trained, grown)
    grown.load_state_dict(state)
    tables = [name for name, m in grown.named_modules() if isinstance(m, FieldEmbedding)]
    assert sorted(table_rows) == sorted(f"{name}.weight" for name in tables)
    old_state = trained.state_dict()
    for key, value in grown.state_dict().items():
        if key.endswith("last_penalised"):  # old rows keep their clock; new ones missed no penalty
            rows = table_rows[key.replace("last_penalised", "weight")][0]
            assert torch.equal(value[rows], old_state[key])
            assert int((value == 50).sum()) == len(value) - len(rows) + int((old_state[key] == 50).sum())
            continue
        if key not in table_rows:
            assert torch.equal(value, old_state[key]), key
            continue
        rows, n_rows = table_rows[key]
        assert value.shape[0] == n_rows > old_state[key].shape[0]
        assert torch.equal(value[rows], old_state[key])
        new = torch.ones(n_rows, dtype=torch.bool)
        new[rows] = False
        assert torch.equal(value[new], initial[key][new])  # new ids start as a new table's rows


def test_old_rows_sit_after_earlier_fields_growth():
    old_spec, new_spec = grown_specs()
    old, new = FieldEmbedding(old_spec, 2), FieldEmbedding(new_spec, 2)
    rows = new.rows_of(old)
    user, item = old_spec[0].vocab_size, old_spec[1].vocab_size
    assert rows[:user].tolist() == list(range(user))
    assert rows[user:user + item].tolist() == list(range(new_spec[0].vocab_size, new_spec[0].vocab_size + item))


def test_a_shrunk_field_cannot_grow_a_table():
    old_spec, new_spec = grown_specs()
    with pytest.raises(ValueError, match="fewer embedding rows"):
        FieldEmbedding(old_spec, 2).rows_of(FieldEmbedding(new_spec, 2))


def test_adam_moments_grow_with_zeros_for_new_rows():
    old_spec, new_spec = grown_specs()
    trained, grown = FieldEmbedding(old_spec, 3), FieldEmbedding(new_spec, 3)
    optimizer = torch.optim.Adam(trained.parameters())
    trained(torch.ones(2, 4, dtype=torch.long) * 3, torch.zeros(2, 1)).sum().backward()
    optimizer.step()
    state, table_rows = grown_state(trained, grown)
    grown.load_state_dict(state)
    names = [name for name, _ in grown.named_parameters()]
    moments = grown_optimizer_state(optimizer.state_dict(), names, table_rows)
    new_optimizer = torch.optim.Adam(grown.parameters())
    new_optimizer.load_state_dict(moments)
    rows, n_rows = table_rows["weight"]
    old_avg = optimizer.state[trained.weight]["exp_avg"]
    new_avg = new_optimizer.state[grown.weight]["exp_avg"]
    assert new_avg.shape[0] == n_rows and torch.equal(new_avg[rows], old_avg)
    new = torch.ones(n_rows, dtype=torch.bool)
    new[rows] = False
    assert old_avg.abs().sum() > 0 and not new_avg[new].any()  # a new row has seen no gradient
    assert new_optimizer.state[grown.weight]["step"] == optimizer.state[trained.weight]["step"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new_optimizer.step()  # usable as it is

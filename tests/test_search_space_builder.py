"""The MobileNet search space: its QUBO cost tables equal the static estimator for every architecture."""

import random

import pytest

from device_profiles import get_profile
from device_profiles.cost_model import CostModel
from qnas_edge.run.search_space import SKIP, MobileNetSpace, Skeleton, table_value
from search import QuboSearch, RandomSearch


@pytest.fixture(scope="module", params=["nano33ble", "rpi4"])
def space(request):
    return MobileNetSpace(get_profile(request.param), input_channels=1, num_classes=10)


def _random_arch(space, rng):
    return {d.name: rng.choice(d.choices) for d in space.space}


def test_tables_equal_static_estimator(space):
    costs, base = space.cost_tables()
    rng = random.Random(1)
    for _ in range(150):
        arch = _random_arch(space, rng)
        fig = space.static_figures(arch)
        for metric in ("latency_ms", "energy_mj", "flash_bytes"):
            assert table_value(costs, base, metric, arch) == pytest.approx(fig[metric], rel=1e-9)


def test_tables_follow_recalibrated_coefficients(space):
    cm = CostModel(space.profile)
    names = ("conv", "dw_3x3") if cm.timing.kind == "tflm-kernels" else ("mac:conv_2d_1x1", "overhead")
    slower = cm.with_coefficients({k: cm.coefficient(k) * 1.5 for k in names})
    costs, base = space.cost_tables(slower)
    rng = random.Random(2)
    for _ in range(30):
        arch = _random_arch(space, rng)
        assert table_value(costs, base, "latency_ms", arch) == pytest.approx(
            space.static_figures(arch, slower)["latency_ms"], rel=1e-9)


def test_a_block_entry_is_the_instruction_models_price_of_that_block():
    """nano33ble: the QUBO's latency entry for one block = the learned predictor's instructions of the
    block's layers (+ the interpreter's per-operator overhead) x the M4 CPI / clock."""
    from device_profiles.latency import cpi_for, load_predictor
    from qnas_edge.pipeline.lowering import lower
    from qnas_edge.run.search_space import parse_block, parse_rw, slot_name

    prof = get_profile("nano33ble")
    sp = MobileNetSpace(prof, 1, 10)
    costs, _ = sp.cost_tables()
    predictor, cpi = load_predictor("m4"), cpi_for(prof.core)
    rw = sp.rw_choices[-1]
    res, width = parse_rw(rw)
    (i, j) = next(s for s in sp.slots if s[1] > 0)          # a slot the reference network skips
    label = next(c for c in sp.space[slot_name(i, j)].choices if c != SKIP)
    shape = (res, res, 1)
    ref = lower(sp._reference(res, width), shape, 10)
    with_block = lower(sp._reference(res, width, {(i, j): parse_block(label)}), shape, 10)
    ms = 0.0
    for layers, sign in ((with_block, 1.0), (ref, -1.0)):
        for lay in layers:
            p = predictor.explain(lay)
            ms += sign * (p.instructions * cpi.for_group(p.group)
                          + predictor.per_layer_overhead * cpi.for_group("invoke"))
    ms = ms / prof.clock_hz * 1000.0
    entry = costs["latency_ms"][(("rw", rw), (slot_name(i, j), label))]
    assert entry == pytest.approx(ms, rel=1e-9) and entry > 0


def test_ram_indicator_is_exact_for_peak_activations():
    prof = get_profile("nano33ble")
    sp = MobileNetSpace(prof, 1, 10, arena_factor=1.0)
    rng = random.Random(3)
    archs = [_random_arch(sp, rng) for _ in range(80)]
    peaks = sorted(sp.static_figures(a)["peak_activation_bytes"] for a in archs)
    limit = prof.ram_reserve_bytes + peaks[len(peaks) // 2]   # half the sample over, half under
    limits = {"ram_bytes": limit}
    costs, base = sp.cost_tables(budgets=limits)
    for a in archs:
        over = prof.ram_reserve_bytes + sp.static_figures(a)["peak_activation_bytes"] > limit
        assert (table_value(costs, base, "ram_over", a) > 0.5) == over


def test_skip_drops_blocks_and_first_slots_cannot_skip():
    sp = MobileNetSpace(get_profile("nano33ble"), 1, 10)
    for (i, j) in sp.slots:
        assert (SKIP in sp.space[f"s{i}_b{j}"].choices) == (j > 0)
    arch = {d.name: d.choices[0] for d in sp.space}
    for (i, j) in sp.slots:
        if j > 0:
            arch[f"s{i}_b{j}"] = SKIP
    a = sp.to_architecture(arch)
    assert [s.depth for s in a.stages] == [1] * len(sp.skeleton.stages)


def test_collapsing_resolutions_are_not_offered():
    sk = Skeleton(stages=((8, 2, 1), (8, 2, 1), (8, 2, 1), (8, 2, 1)), resolutions=(4, 8, 32))
    sp = MobileNetSpace(get_profile("nano33ble"), 1, 10, skeleton=sk)
    assert all(not rw.startswith("r4-") for rw in sp.rw_choices)


@pytest.mark.parametrize("strategy", [QuboSearch, RandomSearch])
def test_strategies_propose_statically_feasible_architectures(strategy):
    prof = get_profile("nano33ble")
    sp = MobileNetSpace(prof, 1, 10)
    limits = CostModel(prof).budget_limits()
    limits["latency_ms"] = 25.0
    costs, base = sp.cost_tables(budgets=limits)
    eng = strategy(sp.space, costs=costs, budgets=sp.search_budgets(limits), base_costs=base, seed=0)
    for _ in range(3):
        for arch in eng.ask(2):
            fig = sp.static_figures(arch)
            assert fig["latency_ms"] <= 25.0 + 1e-9
            assert fig["flash_bytes"] <= limits["flash_bytes"]
            eng.tell(arch, random.random())

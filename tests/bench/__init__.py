"""Overpaint's benchmark suite: what users feel, as ratios measured side by side.

    python -m tests.bench [--quick] [--only P1,P4] --json OUT.json

writes OUT.json ({"P1": {"value", "target", "ok", "detail"}, ...}) and OUT.md (a table
plus the raw figures behind each ratio). Measures (issue 7):

P1 engine overhead (engine_cost)   P2 region cost (ui_cost)    P3 UI smoothness (ui_cost)
P4 brush latency (paint)           P5 start-up (startup)       P6 shared weights (engine_cost)
P7 undo memory (paint)             P8 project save vs Krita (files)

Everything runs the real code: the EngineClient worker thread, the main window and canvas
widget (offscreen), the OpenRaster writer, a real Krita. No timing is asserted anywhere;
tests/test_bench_smoke.py only keeps this code from rotting.
"""

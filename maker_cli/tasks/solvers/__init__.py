"""Reference solvers for the shipped sequential examples (`examples/sequential/`).

A reference solver is `solve(state, step, inputs)` returning the correct answer for one step:
`(action, next_state)`, or a dict with `action`, `next_state` and any extra answer fields. `maker`
uses it after each vote to verify the decided step, and to let the simulated model answer; the
voting never sees it. Specs name one as `reference: maker_cli.tasks.solvers.addition:solve`.

Solvers answer any state of the right shape, not only states on the correct path: with
`--keep-going` a run may continue from a wrong state, and the verifier still asks.
"""

"""maker: run and estimate MDAP jobs with MAKER voting (arXiv:2511.09030), as a library.

    import maker_cli

    est = maker_cli.estimate(steps=1_048_575, p=0.9978, output_tokens=538, model="gpt-4.1-mini")
    answer = maker_cli.vote("What is 6 x 7?", model="sim:p=0.9,answer=42")
    result = maker_cli.run(maker_cli.Hanoi(disks=10), model="sim:p=0.99")
    cal = maker_cli.calibrate("hanoi", disks=10, model="sim:p=0.99", samples=200)
    with maker_cli.serve_metrics(port=9464) as metrics:   # Prometheus metrics while a job runs
        maker_cli.run(maker_cli.Hanoi(disks=10), model="sim:p=0.99", listeners=[metrics.listener])

One function per command, keyword arguments named like the CLI flags, pydantic results whose
`model_dump(mode="json")` is exactly what `--json` prints. `avote`, `arun` and `acalibrate` are the
same functions for code that already runs an event loop. Everything not listed in `__all__` is
internal. Names load on first use, so `import maker_cli` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.2.0"

_EXPORTS = {
    "estimate": "maker_cli.jobs.estimate",
    "vote": "maker_cli.jobs.vote",
    "avote": "maker_cli.jobs.vote",
    "run": "maker_cli.jobs.run",
    "arun": "maker_cli.jobs.run",
    "calibrate": "maker_cli.jobs.calibrate",
    "acalibrate": "maker_cli.jobs.calibrate",
    "load_spec": "maker_cli.specs",
    "Hanoi": "maker_cli.tasks",
    "QuestionSpec": "maker_cli.specs",
    "SequenceSpec": "maker_cli.specs",
    "EstimateReport": "maker_cli.core.estimate_report",
    "VoteResult": "maker_cli.jobs.vote",
    "RunResult": "maker_cli.jobs.run_result",
    "CalibrationResult": "maker_cli.jobs.calibration_result",
    "JobSettings": "maker_cli.config.job",
    "RunStatus": "maker_cli.core.status",
    "MakerError": "maker_cli.errors",
    "UsageError": "maker_cli.errors",
    "SpecError": "maker_cli.errors",
    "ConfigError": "maker_cli.errors",
    "CannotConverge": "maker_cli.errors",
    "ProviderError": "maker_cli.errors",
    "BudgetExceeded": "maker_cli.errors",
    "StoreError": "maker_cli.errors",
    "example_path": "maker_cli.examples",
    "compare_prompts": "maker_cli.jobs.prompt_compare",
    "acompare_prompts": "maker_cli.jobs.prompt_compare",
    "PromptComparison": "maker_cli.jobs.prompt_compare",
    "show_prompt": "maker_cli.jobs.prompt_show",
    "decompose": "maker_cli.workflows.decompose",
    "adecompose": "maker_cli.workflows.decompose",
    "PromptView": "maker_cli.jobs.prompt_show",
    "HanoiPrompt": "maker_cli.tasks.hanoi_prompt",
    "load_prompt": "maker_cli.tasks.hanoi_prompt",
    "MetricsListener": "maker_cli.jobs.metrics",
    "MetricsEndpoint": "maker_cli.jobs.metrics",
    "serve_metrics": "maker_cli.jobs.metrics",
}

__all__ = [
    "BudgetExceeded",
    "CalibrationResult",
    "CannotConverge",
    "ConfigError",
    "EstimateReport",
    "Hanoi",
    "JobSettings",
    "MakerError",
    "ProviderError",
    "QuestionSpec",
    "RunResult",
    "RunStatus",
    "SequenceSpec",
    "SpecError",
    "StoreError",
    "UsageError",
    "VoteResult",
    "__version__",
    "acalibrate",
    "arun",
    "avote",
    "calibrate",
    "estimate",
    "example_path",
    "compare_prompts",
    "acompare_prompts",
    "PromptComparison",
    "show_prompt",
    "decompose",
    "adecompose",
    "PromptView",
    "HanoiPrompt",
    "load_prompt",
    "load_spec",
    "run",
    "vote",
    "MetricsListener",
    "MetricsEndpoint",
    "serve_metrics",
]

if TYPE_CHECKING:
    from maker_cli.config.job import JobSettings
    from maker_cli.core.estimate_report import EstimateReport
    from maker_cli.core.status import RunStatus
    from maker_cli.errors import (
        BudgetExceeded,
        CannotConverge,
        ConfigError,
        MakerError,
        ProviderError,
        SpecError,
        StoreError,
        UsageError,
    )
    from maker_cli.examples import example_path
    from maker_cli.jobs.calibrate import acalibrate, calibrate
    from maker_cli.jobs.calibration_result import CalibrationResult
    from maker_cli.jobs.estimate import estimate
    from maker_cli.jobs.metrics import MetricsEndpoint, MetricsListener, serve_metrics
    from maker_cli.jobs.prompt_compare import PromptComparison, acompare_prompts, compare_prompts
    from maker_cli.jobs.prompt_show import PromptView, show_prompt
    from maker_cli.jobs.run import arun, run
    from maker_cli.jobs.run_result import RunResult
    from maker_cli.jobs.vote import VoteResult, avote, vote
    from maker_cli.specs import QuestionSpec, SequenceSpec, load_spec
    from maker_cli.tasks import Hanoi
    from maker_cli.tasks.hanoi_prompt import HanoiPrompt, load_prompt
    from maker_cli.workflows.decompose import adecompose, decompose


def __getattr__(name: str) -> object:  # the names in __all__ are typed by the imports above
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'maker_cli' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

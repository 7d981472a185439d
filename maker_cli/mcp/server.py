"""The MCP server: estimate, vote, validate, calibrate and configure as tools for AI assistants.

Built on the official SDK (`mcp.server.MCPServer`); `maker serve-mcp` runs it over stdio or
streamable HTTP. Each tool is a thin layer over the core the CLI uses (`estimate`, `voting`,
`spec`, `calibrate`) and returns a typed, structured result; bad arguments and failures come back
as tool errors (`ToolError`) whose message says what to change, and the server keeps serving.

Spending guard, for every tool that calls a model (`maker_vote`, `maker_calibrate` with a model):
- samples per call are capped at `mcp_max_samples` (the engine gets min(requested, cap));
- before any call, the worst case (every sample at the output-token limit, at the model's prices)
  must fit in `mcp_max_cost_usd`, else the call is refused and the error says which sample count
  fits; a model whose prices are unknown is refused unless it is simulated, self-hosted
  (`api_base`/`router_config`) or priced with `price_in`/`price_out`;
- while running, a metered provider refuses new calls once the spend reaches the dollar cap
  (calls already in flight still finish: at most `concurrency` of them);
- every result reports what it spent (`spent_usd`) and the session total.
Both caps come from the settings (`MAKER_MCP_MAX_SAMPLES`, `MAKER_MCP_MAX_COST_USD`, the config
file) and can be changed with `maker_configure`, unless the server was started with --lock-caps.

Task specs are read only inside the server's working directory and the --allow-dir folders, and
error messages pass through `Session.redact` (secrets, credentials in URLs, folder paths).

This module imports mcp (~0.4 s): only `maker serve-mcp` imports it, inside the command.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Iterator, Literal, get_type_hints

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from maker_cli import __version__
from maker_cli.providers import prices as pricing
from maker_cli.specs.canonical import CanonicalStep
from maker_cli.errors import BudgetExceeded, MakerError
from maker_cli.core.estimate import BudgetReport, EstimateReport
from maker_cli.providers.base import CallResult, Completion, Provider, SampleRequest
from maker_cli.core.redflags import EMPTY, FORBIDDEN, FORMAT, TOO_LONG, TRUNCATED, Answer, RedFlag, RedFlagRules
from maker_cli.config.settings import Settings

SPEC_SUFFIXES = (".yaml", ".yml")
CHARS_PER_TOKEN_LOW = 3  # fewer characters per token than usual: a high input-token estimate
FRAMING_TOKENS = 16  # chat-format overhead per call
MAX_LABELLED = 10_000

INSTRUCTIONS = """maker runs MAKER (arXiv:2511.09030): reliable answers from an LLM by voting.
A step is decided when one answer has k more votes than any other; malformed samples are discarded.
Free tools: maker_estimate (k, reliability, cost of a job from p), maker_validate (check one response),
maker_calibrate with labelled responses. Tools that spend money on model calls: maker_vote and
maker_calibrate with a model; each call is capped (see maker_configure). The model
'sim:p=0.9,answer=42' is a free simulated model for trying things out."""


# --------------------------------------------------------------------------- outputs


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _estimate_output_model() -> type[BaseModel]:
    """The fields of `EstimateReport.to_dict()` (what `maker estimate --json` prints), generated from
    the report's own dataclasses so the two never drift; budget fields are null without a budget."""
    hints = get_type_hints(EstimateReport)
    fields: dict[str, Any] = {name: (hint, ...) for name, hint in hints.items() if name != "budget"}
    fields["sweep"] = (hints["sweep"], None)
    for name, hint in get_type_hints(BudgetReport).items():
        fields[name] = (hint | None, None)
    return create_model("EstimateOutput", __base__=_Out, **fields)


EstimateOutput = _estimate_output_model()


class GuardReport(_Out):
    spent_usd: float | None = Field(description="dollars this call spent (null: a price was unknown)")
    session_spent_usd: float = Field(description="dollars spent by all calls to this server process so far")
    sample_cap: int = Field(description="samples this call was allowed: min(requested, mcp_max_samples)")
    cost_cap_usd: float = Field(description="dollar cap per call (mcp_max_cost_usd)")
    worst_case_usd: float | None = Field(description="the worst-case cost checked before calling (null: unknown)")
    stop_reason: Literal["done", "sample_cap", "cost_cap"] = Field(
        description="done; sample_cap: undecided at the sample cap; cost_cap: stopped at the dollar cap"
    )
    guard_notes: list[str] = Field(default_factory=list)


class _VoteFields(_Out):
    winner: str | None = Field(description="the decided answer (canonical key); null when undecided")
    decided: bool
    status: str
    k: int
    votes: dict[str, int] = Field(description="valid votes per answer")
    samples: int = Field(description="completions received, red-flagged ones included")
    valid: int
    red_flagged: int
    red_flag_reasons: dict[str, int] = Field(description="reason -> count (too_long, truncated, format, ...)")
    errors: int = Field(description="calls that failed after retries (never votes)")
    retries: int
    rounds: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    wall_s: float
    model: str
    simulated: bool
    task: str | None = None


# the fields `maker vote --json` prints, then the spending guard's
VoteOutput = create_model(
    "VoteOutput", __base__=_VoteFields,
    **{name: (info.annotation, info) for name, info in GuardReport.model_fields.items()},
)


class RedFlagOut(_Out):
    reason: str = Field(description="too_long, truncated, empty, forbidden_pattern or format")
    detail: str = ""
    label: str


class ValidateOutput(_Out):
    valid: bool = Field(description="true when no red flag was raised: the response would count as a vote")
    answer: str | None = Field(description="the canonical answer it votes for (null if the format check failed)")
    value: Any = Field(None, description="the extracted value before canonicalisation (JSON)")
    red_flags: list[RedFlagOut] = Field(description="every problem found (the engine discards on the first)")
    checks: list[str] = Field(description="the checks that ran")
    notes: list[str] = Field(default_factory=list)


class Recommendation(_Out):
    steps: int | None = None
    target: float | None = None
    p_used: float | None = Field(None, description="the p the recommendation uses (the lower confidence bound)")
    basis: str | None = None
    recommended_k: int | None = None
    k_at_point_estimate: int | None = None
    p_full: float | None = None
    expected_votes_per_step: float | None = None
    expected_samples_per_step: float | None = None
    expected_calls: float | None = None
    expected_cost_usd: float | None = None
    cost_per_call_usd: float | None = None
    price_in: float | None = None
    price_out: float | None = None
    price_source: str | None = None
    message: str | None = None


class CalibrateOutput(_Out):
    mode: Literal["labelled", "model"]
    task: str
    model: str
    simulated: bool
    temperature: float
    method: str
    confidence: float
    requested: int
    samples: int
    valid: int
    correct: int
    red_flagged: int
    p: float | None = Field(description="P(one valid sample is correct) = correct / valid")
    p_ci: list[float] = Field(description="confidence interval of p (Wilson)")
    valid_rate: float | None = Field(description="share of samples not red-flagged")
    valid_rate_ci: list[float]
    red_flags: dict[str, int]
    red_flag_details: dict[str, int] = Field(default_factory=dict)
    errors: dict[str, int] = Field(default_factory=dict, description="kinds of wrong answers")
    call_errors: int = 0
    retries: int = 0
    mean_input_tokens: float | None = None
    mean_output_tokens: float | None = None
    cost_usd: float | None = None
    cost_per_call_usd: float | None = None
    probes: int | None = None
    distinct_probes: int | None = None
    seed: int | None = None
    wall_s: float | None = None
    hanoi: dict[str, Any] | None = None
    pairs: dict[str, Any] | None = None
    collisions: int | None = None
    expected_collisions: float | None = None
    correlated: bool | None = Field(None, description="with pairs: wrong answers coincide more than chance allows")
    notes: list[str] = Field(default_factory=list)
    recommended_k: int | None = Field(None, description="k for the target over steps, from the lower bound of p")
    recommendation: Recommendation | None = Field(
        None, description="k for steps/target (steps default: 2^disks - 1 for hanoi, the items for a spec)"
    )
    guard: GuardReport | None = Field(None, description="the spending guard (model mode only)")


class ConfigureOutput(_Out):
    model: str
    k: int
    max_samples: int | None = Field(description="default per-vote sample cap (always within mcp_max_samples)")
    first_temperature: float
    temperature: float
    max_output_tokens: int
    concurrency: int
    target: float
    price_in: float | None
    price_out: float | None
    mcp_max_samples: int
    mcp_max_cost_usd: float
    caps_locked: bool
    session_spent_usd: float
    changed: list[str]


# --------------------------------------------------------------------------- arguments


class Labelled(BaseModel):
    model_config = ConfigDict(extra="forbid")

    response: str = Field(description="a model response, verbatim")
    expected: str = Field(description="the correct answer (as the extraction rules would return it)")
    output_tokens: int | None = Field(None, ge=0, description="the provider's output-token count (length rule)")
    finish_reason: str | None = Field(None, description="the provider's finish reason ('length' = cut off)")


def _opt(type_: Any, description: str, **constraints: Any) -> Any:
    """An optional tool argument (None = not given) with a description a model can act on."""
    return Annotated[type_ | None, Field(description=description, **constraints)]


Temperature = _opt(float, "sampling temperature", ge=0, le=2)
Target = _opt(float, "target P(all steps correct) (default: the session's, 0.95)", gt=0, lt=1)
K = _opt(int, "vote margin: the first answer ahead by k wins (default: the session's)", ge=1, le=1000)
MaxSamples = _opt(int, "sample cap for this call; never above mcp_max_samples (default: that cap)", ge=1)
ModelArg = _opt(str, "litellm model string (e.g. gpt-4.1-mini), or 'sim:p=0.9,answer=42' (free simulated model)")
MaxOutputTokens = _opt(int, "red-flag responses longer than this many output tokens (default: the session's)", ge=1)
AnswerRegex = _opt(str, "regular expression with a named group (?P<answer>...); the last match counts")
JsonPath = _opt(str, "the response is JSON (or one ```json block) with the answer at this path, e.g. result.value")
JsonType = _opt(Literal["str", "int", "float", "bool", "list", "object"], "with json_path: the answer's JSON type")
Allowed = _opt(list[str], "the only answers accepted (after normalisation)")
TaskPath = _opt(str, "path of a YAML task spec inside the server's working directory (or an --allow-dir folder)")
Price = _opt(float, "USD per million tokens", ge=0)
MustNotMatch = Annotated[list[str], Field(description="regular expressions; a response matching one is discarded")]
Canonical = Annotated[
    list[CanonicalStep],
    Field(description="normalisation before comparing answers: strip, collapse_whitespace, lowercase, json, number"),
]
Inputs = Annotated[dict[str, str | int | float], Field(description="the task spec's inputs, name -> value")]
Responses = Annotated[
    list[Labelled] | None,
    Field(max_length=MAX_LABELLED, description="labelled mode (free): responses with their correct answers"),
]
VoteRegex = _opt(str, "with prompt: vote on this regex's 'answer' group (last match); default: the whole reply")
CalibrationTask = _opt(str, "model mode (spends money): 'hanoi', or a YAML task spec path in the working directory")
Items = _opt(
    list[dict[str, Any]],
    "task spec: dataset rows, {'inputs': {...}, 'expected': ...} or flat {input: value, ..., 'expected': ...}",
)


@dataclass(frozen=True)
class ModelCalibration:
    """What `maker_calibrate` needs in model mode."""

    task: str
    disks: int
    items: list[dict[str, Any]] | None
    model: str
    samples: int | None
    pairs: bool
    seed: int
    temperature: float
    max_output_tokens: int | None
    must_not_match: tuple[str, ...]


# --------------------------------------------------------------------------- the session


@dataclass
class Session:
    """Per-process state: settings plus maker_configure overrides, folders, and the spend so far."""

    base: Settings
    root: Path
    allowed: tuple[Path, ...] = ()
    lock_caps: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)
    spent_usd: float = 0.0

    @property
    def settings(self) -> Settings:
        return self.base.model_copy(update=self.overrides) if self.overrides else self.base

    def read_spec(self, given: str):  # -> TaskSpec
        """Load a spec from inside the allowed folders; errors name it as given, never a folder."""
        from maker_cli.specs.question import TaskSpec, parse_model

        name, text = self.spec_text(given)
        return parse_model(text, TaskSpec, source=name)

    def spec_text(self, given: str) -> tuple[str, str]:
        """(name as given, text) of a spec file inside the allowed folders."""
        name, path = given.strip(), self.spec_path(given)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise ToolError(f"task spec {name!r} cannot be read as UTF-8 text") from None
        return name, text

    def spec_path(self, given: str) -> Path:
        """The resolved path of a spec file inside the allowed folders (ToolError otherwise)."""
        name = given.strip()
        if not name.lower().endswith(SPEC_SUFFIXES):
            raise ToolError(f"task spec {name!r}: give the path of a .yaml or .yml file")
        path = (self.root / name).resolve()  # symlinks resolved: a link cannot lead outside
        if not any(path.is_relative_to(folder) for folder in (self.root, *self.allowed)):
            raise ToolError(
                f"task spec {Path(name).name!r} is outside the folders this server may read (its working "
                f"directory{' and the --allow-dir folders' if self.allowed else ''}); give a path relative to "
                "the working directory"
            )
        if not path.is_file():
            raise ToolError(f"task spec {name!r} not found (paths are relative to the server's working directory)")
        return path

    def redact(self, text: str) -> str:
        """Hide secrets (key-like environment values, key shapes, URL credentials) and folder paths."""
        for name, value in os.environ.items():
            if len(value) >= 8 and _SECRET_NAME.search(name):
                text = text.replace(value, "[redacted]")
        text = _SECRET_SHAPES.sub("[redacted]", text)
        text = _URL_USERINFO.sub(r"\1[redacted]@", text)
        places = [(str(self.root), ".")]
        places += [(str(p), f"<allowed folder {i + 1}>") for i, p in enumerate(self.allowed)]
        places += [(sys.prefix, "<python>"), (str(Path.home()), "~")]
        for path, label in sorted(places, key=lambda place: -len(place[0])):
            if len(path) > 1:
                text = text.replace(path, label)
        return text


_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH", re.IGNORECASE)
_SECRET_SHAPES = re.compile(
    r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{8,}|\bBearer\s+\S+|\b(?:AKIA|ASIA)[A-Z0-9]{12,}"
    r"|\bxox[abpr]-[A-Za-z0-9\-]+|\bgh[pousr]_[A-Za-z0-9]{20,}|\bAIza[A-Za-z0-9_\-]{20,}"
)
_URL_USERINFO = re.compile(r"(://)[^/@\s]+@")


@contextmanager
def _tool_errors(session: Session) -> Iterator[None]:
    """Anticipated failures become tool errors with a sanitised message; the server keeps serving.
    Anything else is a bug: the SDK answers 'Error executing tool X' and logs the traceback (stderr)."""
    try:
        yield
    except (ToolError, MakerError) as exc:
        raise ToolError(session.redact(str(exc))) from None
    except ValidationError as exc:
        raise ToolError(session.redact(_first_error(exc))) from None
    except (ValueError, re.error) as exc:
        raise ToolError(session.redact(str(exc))) from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err["loc"])
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


# --------------------------------------------------------------------------- the spending guard


@dataclass(frozen=True)
class SpendPlan:
    samples: int  # samples this call may draw
    per_sample_usd: float | None  # worst case for one sample; None when prices are unknown
    worst_case_usd: float | None
    notes: tuple[str, ...]


def model_prices(settings: Settings, model: str, simulated: bool) -> tuple[float, float] | None:
    """USD per million (input, output) tokens as the provider will charge them, or None if unknown."""
    if settings.price_in is not None or settings.price_out is not None:
        return settings.price_in or 0.0, settings.price_out or 0.0
    if simulated:
        return 0.0, 0.0
    return pricing.model_prices(model)


def plan_spend(
    settings: Settings, model: str, *, simulated: bool, requested: int | None, prompt_chars: int,
    max_output_tokens: int | None, least: int = 1, what: str = "max_samples", locked: bool = False,
) -> SpendPlan:
    """Both caps, before any call: samples = min(requested, mcp_max_samples); ToolError when fewer than
    `least` samples are allowed, or when the worst case (every sample at the output-token limit, input
    tokens estimated high) exceeds mcp_max_cost_usd, or when the dollar cap cannot be checked."""
    cap, dollars = settings.mcp_max_samples, settings.mcp_max_cost_usd
    notes: list[str] = []
    samples = min(requested or cap, cap)
    if requested is not None and requested > cap:
        notes.append(f"{what} {requested} lowered to the per-call cap mcp_max_samples = {cap}")
    raise_it = "the caps are locked by the server's operator" if locked else (
        "raise the cap with maker_configure if the user agrees"
    )
    if samples < least:
        raise ToolError(
            f"k = {least} needs at least {least} samples, but a call may draw at most {samples} "
            f"(mcp_max_samples = {cap}); lower k or {raise_it}"
        )
    prices = model_prices(settings, model, simulated)
    if prices is None:
        if settings.api_base is None and settings.router_config is None:
            raise ToolError(
                f"no price is known for model {model!r}, so the ${dollars:g} per-call cap cannot be enforced; "
                "give price_in and price_out (USD per million tokens) with maker_configure, or use a model "
                "from litellm's price map"
            )
        notes.append("prices unknown (self-hosted model?): the dollar cap is not checked; only the sample cap applies")
        return SpendPlan(samples, None, None, tuple(notes))
    in_tokens = math.ceil(prompt_chars / CHARS_PER_TOKEN_LOW) + FRAMING_TOKENS
    out_tokens = max_output_tokens or settings.max_output_tokens
    per = pricing.call_cost(in_tokens, out_tokens, *prices)
    worst = per * samples
    if worst > dollars:
        fits = int(dollars // per) if per > 0 else samples
        advice = f"pass {what} <= {fits}" if fits >= least else "use a cheaper model or a lower max_output_tokens"
        raise ToolError(
            f"refused: the worst case for {samples} samples of {model} is ${worst:.4g} "
            f"(${per:.4g} each at {out_tokens} output tokens), over the per-call cap mcp_max_cost_usd = "
            f"${dollars:g}; {advice}, or {raise_it}"
        )
    return SpendPlan(samples, per, worst, tuple(notes))


class MeteredProvider:
    """Wraps a provider: adds up what its completions cost and refuses new calls (BudgetExceeded)
    once the spend reaches `cap_usd`, so a run stops at the dollar cap."""

    def __init__(self, inner: Provider, cap_usd: float) -> None:
        self.inner = inner
        self.info = inner.info
        self.cap_usd = cap_usd
        self.spent = 0.0
        self.cost_known = True

    async def complete(self, request: SampleRequest) -> CallResult:
        if self.spent > 0 and self.spent >= self.cap_usd:
            raise BudgetExceeded(f"stopped at the per-call cap: spent ${self.spent:.4g} of ${self.cap_usd:g}")
        result = await self.inner.complete(request)
        for completion in result.completions:
            if completion.cost_usd is None:
                self.cost_known = False
            else:
                self.spent += completion.cost_usd
        return result

    async def aclose(self) -> None:
        await self.inner.aclose()

    @property
    def spent_usd(self) -> float | None:
        return self.spent if self.cost_known else None


class _VoteWatch:
    """Listener keeping a vote's tallies, so a vote stopped at the dollar cap still reports them."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.red_flags: dict[str, int] = {}
        self.samples = self.errors = self.retries = self.rounds = 0
        self.in_tokens = self.out_tokens = 0
        self.cost, self.cost_known = 0.0, True

    def __call__(self, event: Any) -> None:
        from maker_cli.core.events import CallFailed, Retried, RoundFinished, SampleFinished

        if isinstance(event, SampleFinished):
            c = event.completion
            self.samples += 1
            self.in_tokens += c.input_tokens or 0
            self.out_tokens += c.output_tokens or 0
            self.cost_known = self.cost_known and c.cost_usd is not None
            self.cost += c.cost_usd or 0.0
            if event.key is not None:
                self.counts[event.key] = self.counts.get(event.key, 0) + 1
            elif event.red_flag is not None:
                self.red_flags[event.red_flag.reason] = self.red_flags.get(event.red_flag.reason, 0) + 1
        elif isinstance(event, Retried):
            self.retries += event.retries
        elif isinstance(event, CallFailed):
            self.errors += 1
        elif isinstance(event, RoundFinished):
            self.rounds = event.round

    def partial(self, wall_s: float):  # -> StepResult
        from maker_cli.core.engine import UNDECIDED, StepResult

        return StepResult(
            step=0, status=UNDECIDED, winner=None, value=None, tallies=dict(self.counts), samples=self.samples,
            valid=sum(self.counts.values()), red_flags=dict(self.red_flags), errors=self.errors,
            retries=self.retries, rounds=self.rounds, input_tokens=self.in_tokens, output_tokens=self.out_tokens,
            cost_usd=self.cost if self.cost_known else None, wall_s=wall_s,
        )


# --------------------------------------------------------------------------- the tools


class MakerTools:
    """The tool functions; `build_server` registers each under its `maker_*` name."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def estimate(
        self,
        steps: Annotated[int, Field(ge=1, description="dependent steps in the job (s)")],
        p: Annotated[float, Field(gt=0, le=1, description="P(one valid sample is correct), per step; must be > 0.5")],
        target: Target = None,
        m: Annotated[int, Field(ge=1, description="steps per agent (1 = maximal decomposition)")] = 1,
        k: _opt(int, "evaluate this vote margin instead of k_min", ge=1) = None,
        valid_rate: _opt(float, "share of samples not red-flagged (default 1)", gt=0, le=1) = None,
        input_tokens: _opt(float, "input tokens per one-step call", ge=0) = None,
        output_tokens: _opt(float, "output tokens per one-step call", ge=0) = None,
        model: _opt(str, "model whose prices to use (default: the session model, if set with maker_configure)") = None,
        price_in: Price = None,
        price_out: Price = None,
        budget_usd: _opt(float, "dollars available: what target they reach", ge=0) = None,
        max_samples: _opt(int, "per-step sample cap: gives P(a step ends undecided)", ge=1) = None,
        latency_s: _opt(float, "seconds per call, for the wall time", gt=0) = None,
        concurrency: _opt(int, "calls in flight at once (default: the session's)", ge=1) = None,
        sweep: Annotated[bool, Field(description="add a table over k around k_min")] = False,
    ) -> EstimateOutput:  # type: ignore[valid-type]
        from maker_cli.core.estimate import estimate, resolve_inputs
        from maker_cli.providers.sim import is_sim

        with _tool_errors(self.session):
            settings = self.session.settings
            configured = self.session.overrides.get("model")
            if model is None and configured and not is_sim(configured) and price_in is None and price_out is None:
                model = configured
            inputs = resolve_inputs(
                steps=steps, p=p, target=target, m=m, k=k, valid_rate=valid_rate, input_tokens=input_tokens,
                output_tokens=output_tokens, model=model, price_in=price_in, price_out=price_out, latency=latency_s,
                concurrency=concurrency, budget=budget_usd, max_samples=max_samples, sweep=sweep, defaults=settings,
            )
            return EstimateOutput.model_validate(estimate(inputs).to_dict())

    async def vote(
        self,
        prompt: _opt(str, "the question to answer (a free prompt); or give task") = None,
        system: _opt(str, "system message for prompt") = None,
        answer_regex: VoteRegex = None,
        task: TaskPath = None,
        inputs: Inputs = {},  # noqa: B006 - never mutated
        k: K = None,
        max_samples: MaxSamples = None,
        model: ModelArg = None,
        temperature: Temperature = None,
        first_temperature: _opt(float, "the first sample's temperature", ge=0, le=2) = None,
        max_output_tokens: MaxOutputTokens = None,
        must_not_match: MustNotMatch = [],  # noqa: B006 - never mutated
    ) -> VoteOutput:  # type: ignore[valid-type]
        with _tool_errors(self.session):
            if (prompt is None) == (task is None):
                raise ToolError("give exactly one of prompt (a question) or task (a YAML spec path)")
            if prompt is not None and inputs:
                raise ToolError("inputs go with task, not with prompt")
            settings = self.session.settings
            flags = dict(
                k=k, max_samples=None, eager=None, temperature=temperature, first_temperature=first_temperature,
            )
            job, model_name = self._vote_job(settings, prompt, system, answer_regex, task, inputs, model, flags)
            limit = max_output_tokens or job.cfg.rules.max_output_tokens
            rules = RedFlagRules(limit, tuple(job.cfg.rules.must_not_match) + tuple(must_not_match))
            plan = self._plan(
                settings, model_name, requested=max_samples or job.cfg.max_samples,
                prompt_chars=len(job.system) + len(job.user), max_output_tokens=limit, least=job.cfg.k,
            )
            job = replace(job, cfg=replace(job.cfg, max_samples=plan.samples, rules=rules))
            return await self._run_vote(job, _provider(settings, model_name), model_name, plan)

    def _vote_job(self, settings, prompt, system, answer_regex, task, inputs, model, flags):  # noqa: ANN001, ANN202
        from maker_cli.jobs.vote import VoteJob, free_text_judge, spec_job, vote_config

        if task is not None:
            spec = self.session.read_spec(task)
            job = spec_job(spec, {key: str(value) for key, value in inputs.items()}, settings, flags)
            return job, model or spec.model or settings.model
        cfg = vote_config(settings, **flags)
        return VoteJob(system or "", prompt or "", free_text_judge(answer_regex), cfg), model or settings.model

    async def _run_vote(self, job, provider: Provider, model_name: str, plan: SpendPlan):  # noqa: ANN001, ANN202
        from maker_cli.core.engine import Engine
        from maker_cli.core.step import StepPrompt
        from maker_cli.jobs.vote import vote_report

        settings = self.session.settings
        meter = MeteredProvider(provider, settings.mcp_max_cost_usd)
        watch = _VoteWatch()
        engine = Engine(meter, concurrency=settings.concurrency, listeners=[watch])
        t0 = time.perf_counter()
        try:
            result = await engine.vote(StepPrompt(0, job.system, job.user, job.reference), job.judge, job.cfg)
            stop = "done" if result.decided else "sample_cap"
        except BudgetExceeded:
            result, stop = watch.partial(time.perf_counter() - t0), "cost_cap"
        finally:
            self.session.spent_usd += meter.spent
            await meter.aclose()
        report = vote_report(result, model=model_name, simulated=provider.info.simulated, k=job.cfg.k)
        return VoteOutput(**report, task=job.task, **self._guard(meter, plan, stop))

    def _plan(self, settings: Settings, model: str, **kwargs: Any) -> SpendPlan:
        from maker_cli.providers.sim import is_sim

        _check_model(model)
        return plan_spend(settings, model, simulated=is_sim(model), locked=self.session.lock_caps, **kwargs)

    def _guard(self, meter: MeteredProvider, plan: SpendPlan, stop: str) -> dict[str, Any]:
        return dict(
            spent_usd=meter.spent_usd, session_spent_usd=self.session.spent_usd, sample_cap=plan.samples,
            cost_cap_usd=meter.cap_usd, worst_case_usd=plan.worst_case_usd, stop_reason=stop,
            guard_notes=list(plan.notes),
        )

    def validate(
        self,
        response: Annotated[str, Field(description="the model response to check, verbatim")],
        answer_regex: AnswerRegex = None,
        match: Annotated[Literal["last", "first"], Field(description="answer_regex: which match counts")] = "last",
        json_path: JsonPath = None,
        json_type: JsonType = None,
        canonical: Canonical = [],  # noqa: B006 - never mutated
        allowed: Allowed = None,
        require: _opt(str, "a regular expression the response must contain") = None,
        must_not_match: MustNotMatch = [],  # noqa: B006 - never mutated
        max_output_tokens: MaxOutputTokens = None,
        output_tokens: _opt(int, "the provider's output-token count for the response (characters are not tokens)",
                            ge=0) = None,
        finish_reason: _opt(str, "the provider's finish reason; 'length' means it was cut off") = None,
    ) -> ValidateOutput:
        with _tool_errors(self.session):
            judge = _judge(answer_regex, match, json_path, json_type, canonical, allowed, require)
            limit = max_output_tokens or self.session.settings.max_output_tokens
            flags: list[RedFlag] = []
            checks = ["truncated", "empty", "must_not_match", "format"]
            notes: list[str] = []
            if finish_reason == "length":
                flags.append(RedFlag(TRUNCATED))
            if output_tokens is not None:
                checks.insert(1, f"too_long (> {limit} tokens)")
                if output_tokens > limit:
                    flags.append(RedFlag(TOO_LONG, f">{limit} tokens"))
            else:
                notes.append("length not checked: give output_tokens (the provider's count)")
            if not response.strip():
                flags.append(RedFlag(EMPTY))
            flags += [RedFlag(FORBIDDEN, pattern) for pattern in must_not_match if re.search(pattern, response)]
            verdict = judge(response)
            answer = value = None
            if isinstance(verdict, Answer):
                answer, value = verdict.key, verdict.value
            elif not any(flag.reason == EMPTY for flag in flags):
                flags.append(verdict)
            return ValidateOutput(
                valid=not flags, answer=answer, value=value, checks=checks, notes=notes,
                red_flags=[RedFlagOut(reason=f.reason, detail=f.detail, label=f.label) for f in flags],
            )

    async def calibrate(
        self,
        responses: Responses = None,
        answer_regex: AnswerRegex = None,
        json_path: JsonPath = None,
        json_type: JsonType = None,
        canonical: Canonical = [],  # noqa: B006 - never mutated
        allowed: Allowed = None,
        task: CalibrationTask = None,
        disks: Annotated[int, Field(ge=1, le=25, description="task 'hanoi': number of disks")] = 10,
        items: Items = None,
        model: ModelArg = None,
        samples: _opt(int, "model mode: samples to draw (default and maximum: mcp_max_samples)", ge=1) = None,
        pairs: Annotated[bool, Field(description="model mode: two samples per probe (do errors correlate?)")] = False,
        seed: Annotated[int, Field(description="model mode: random seed for the probes")] = 0,
        temperature: Temperature = None,
        max_output_tokens: MaxOutputTokens = None,
        must_not_match: MustNotMatch = [],  # noqa: B006 - never mutated
        steps: _opt(int, "steps of the job to plan: gives the recommended k", ge=1) = None,
        target: Target = None,
    ) -> CalibrateOutput:
        from maker_cli.jobs import calibrate as core

        with _tool_errors(self.session):
            if (responses is None) == (task is None):
                raise ToolError("give exactly one of responses (labelled, free) or task ('hanoi' or a spec path)")
            settings = self.session.settings
            guard = None
            if responses is not None:
                if not responses:
                    raise ToolError("responses is empty: give at least one {response, expected}")
                judge = _judge(answer_regex, "last", json_path, json_type, canonical, allowed, None)
                rules = RedFlagRules(max_output_tokens or settings.max_output_tokens, tuple(must_not_match))
                labelled = [
                    (_completion(r), _expected_key(r.expected, i, answer_regex, json_path, json_type, canonical))
                    for i, r in enumerate(responses)
                ]
                report = core.report_from_labelled(labelled, judge, rules=rules, model=model or "labelled")
            else:
                run = ModelCalibration(
                    task=task, disks=disks, items=items, model=model or settings.model, samples=samples, pairs=pairs,
                    seed=seed, temperature=settings.temperature if temperature is None else temperature,
                    max_output_tokens=max_output_tokens, must_not_match=tuple(must_not_match),
                )
                report, guard, job_steps = await self._calibrate_model(core, run)
                steps = steps or job_steps
            recommendation = None
            if steps is not None:
                recommendation = Recommendation(**core.recommend(
                    report, steps=steps, target=target or settings.target,
                    price_in=settings.price_in, price_out=settings.price_out,
                ))
            return CalibrateOutput(
                mode="labelled" if guard is None else "model", **report.to_dict(), guard=guard,
                recommendation=recommendation, recommended_k=recommendation.recommended_k if recommendation else None,
            )

    def _sequential(self, given: str) -> bool:
        from maker_cli.specs.sequence import is_sequential_text

        return is_sequential_text(self.session.spec_text(given)[1])

    async def _calibrate_model(self, core, run: ModelCalibration):  # noqa: ANN001, ANN202
        settings = self.session.settings
        limit = run.max_output_tokens or settings.max_output_tokens
        task = path = None  # a sequential spec's SpecTask and reference path
        if run.task == "hanoi":
            from maker_cli.tasks import hanoi

            if run.items:
                raise ToolError("items go with a task spec, not with task 'hanoi'")
            n = hanoi.check_disks(run.disks)
            spec = dataset = None
            chars = int(1.2 * (len(hanoi.system_prompt(n)) + len(hanoi.user_prompt(n, hanoi.start_state(n), None))))
            rules, samples = RedFlagRules(limit, run.must_not_match), run.samples
        elif self._sequential(run.task):
            from maker_cli.tasks.sequence import SpecTask

            if run.items:
                raise ToolError("a sequential spec needs no items: steps are drawn along its reference solver's path")
            spec = dataset = None
            task = SpecTask.from_file(self.session.spec_path(run.task))
            path = core.reference_path(task, core.WALK_CAP)
            first = task.prompt(0, *task.start(), simulated=False)
            chars = int(1.5 * (len(first.system) + len(first.user)))  # later states may be longer
            defaults = task.job_defaults()
            rules = RedFlagRules(run.max_output_tokens or defaults.get("max_output_tokens") or limit,
                                 tuple(defaults.get("must_not_match") or ()) + run.must_not_match)
            samples = run.samples
        else:
            spec = self.session.read_spec(run.task)
            if not run.items:
                raise ToolError("a task spec needs items: dataset rows with the spec's inputs and expected answer")
            dataset = [core.parse_dataset_line(row, i + 1, spec.inputs) for i, row in enumerate(run.items)]
            chars = max(sum(map(len, spec.render(item.inputs))) for item in dataset)
            spec_rules = spec.red_flag_rules(settings.max_output_tokens)
            rules = RedFlagRules(run.max_output_tokens or spec_rules.max_output_tokens,
                                 spec_rules.must_not_match + run.must_not_match)
            samples = run.samples or len(dataset) * (2 if run.pairs else 1)
        plan = self._plan(
            settings, run.model, requested=samples, prompt_chars=chars, max_output_tokens=rules.max_output_tokens,
            least=2 if run.pairs else 1, what="samples",
        )
        count = plan.samples - (plan.samples % 2 if run.pairs else 0)  # whole pairs, never past the cap
        meter = MeteredProvider(_provider(settings, run.model), settings.mcp_max_cost_usd)
        common = dict(samples=count, temperature=run.temperature, concurrency=settings.concurrency,
                      pairs=run.pairs, seed=run.seed, rules=rules)
        try:
            if run.task == "hanoi":
                report = await core.calibrate_hanoi(meter, disks=run.disks, **common)
            elif task is not None:
                report = await core.calibrate_sequence(meter, task, path=path, **common)
            else:
                report = await core.calibrate_spec(meter, spec, dataset, **common)
        except BudgetExceeded as exc:
            raise ToolError(f"{exc}; no report (raise mcp_max_cost_usd or draw fewer samples)") from None
        finally:
            self.session.spent_usd += meter.spent
            await meter.aclose()
        job_steps = path.planning_steps if task is not None else _default_steps(run.task, run.disks, run.items)
        return report, GuardReport(**self._guard(meter, plan, "done")), job_steps

    async def configure(
        self,
        model: ModelArg = None,
        k: K = None,
        max_samples: _opt(int, "default per-vote sample cap (still limited by mcp_max_samples)", ge=1) = None,
        first_temperature: _opt(float, "temperature of a vote's first sample", ge=0, le=2) = None,
        temperature: _opt(float, "temperature of the other samples", ge=0, le=2) = None,
        max_output_tokens: _opt(int, "red-flag responses longer than this many output tokens", ge=1) = None,
        concurrency: _opt(int, "calls in flight at once", ge=1, le=256) = None,
        target: Target = None,
        price_in: _opt(float, "USD per million input tokens (for a model without a known price)", ge=0) = None,
        price_out: _opt(float, "USD per million output tokens", ge=0) = None,
        mcp_max_samples: _opt(int, "cap on samples per tool call; raise only if the user agrees", ge=1) = None,
        mcp_max_cost_usd: _opt(float, "cap on dollars per tool call; raise only if the user agrees", ge=0) = None,
        reset: Annotated[bool, Field(description="first drop every session change (back to the settings)")] = False,
    ) -> ConfigureOutput:
        with _tool_errors(self.session):
            given = dict(
                model=model, k=k, max_samples=max_samples, first_temperature=first_temperature,
                temperature=temperature, max_output_tokens=max_output_tokens, concurrency=concurrency,
                target=target, price_in=price_in, price_out=price_out, mcp_max_samples=mcp_max_samples,
                mcp_max_cost_usd=mcp_max_cost_usd,
            )
            given = {name: value for name, value in given.items() if value is not None}
            if self.session.lock_caps and {"mcp_max_samples", "mcp_max_cost_usd"} & given.keys():
                raise ToolError("the spending caps are locked (the server was started with --lock-caps); ask the user")
            if model is not None:
                _check_model(model)
            overrides = ({} if reset else dict(self.session.overrides)) | given
            Settings.model_validate({**self.session.base.model_dump(), **overrides})  # the settings' own checks
            self.session.overrides = overrides
            s = self.session.settings
            return ConfigureOutput(
                model=s.model, k=s.k, max_samples=s.max_samples, first_temperature=s.first_temperature,
                temperature=s.temperature, max_output_tokens=s.max_output_tokens, concurrency=s.concurrency,
                target=s.target, price_in=s.price_in, price_out=s.price_out, mcp_max_samples=s.mcp_max_samples,
                mcp_max_cost_usd=s.mcp_max_cost_usd, caps_locked=self.session.lock_caps,
                session_spent_usd=self.session.spent_usd, changed=sorted(given),
            )


# --------------------------------------------------------------------------- helpers


def _default_steps(task: str, disks: int, items: list[Any] | None) -> int:
    """The CLI's default job size: the whole Hanoi solution, or one step per dataset item."""
    from maker_cli.tasks import hanoi

    return hanoi.steps_total(disks) if task == "hanoi" else len(items or ()) or 1


def _provider(settings: Settings, model: str) -> Provider:
    from maker_cli.cli.common import build_provider

    return build_provider(settings, model)


def _check_model(model: str) -> None:
    from maker_cli.providers.sim import is_sim, parse_sim

    if not model.strip():
        raise ToolError("model is empty: give a litellm model string or 'sim:...'")
    if is_sim(model):
        parse_sim(model)  # UsageError for unknown options


def _judge(answer_regex, match, json_path, json_type, canonical, allowed, require):  # noqa: ANN001, ANN202
    """The spec judge for these answer rules; without rules, the whole response (whitespace collapsed)."""
    from maker_cli.specs.question import AnswerSpec, RedFlagSpec, build_judge
    from maker_cli.jobs.vote import free_text_judge

    if answer_regex is None and json_path is None:
        if json_type is not None or allowed is not None or canonical:
            raise ToolError("json_type, allowed and canonical need answer_regex or json_path")
        whole = free_text_judge(None)
        if require is None:
            return whole
        pattern = re.compile(require)
        missing = RedFlag(FORMAT, f"required pattern {require!r} not found")
        return lambda text: whole(text) if pattern.search(text) else missing
    rules: dict[str, Any] = dict(regex=answer_regex, json_path=json_path, type=json_type, allowed=allowed)
    if answer_regex is not None:
        rules["match"] = match
    answer = AnswerSpec(**{key: value for key, value in rules.items() if value is not None})
    return build_judge(answer, list(canonical), RedFlagSpec(require=require))


def _completion(item: Labelled) -> Completion:
    return Completion(item.response, None, item.output_tokens, item.finish_reason or "stop", 0.0, None)


def _expected_key(expected: str, index: int, answer_regex, json_path, json_type, canonical) -> str:  # noqa: ANN001
    """The canonical key a correct response parses to, from the expected answer's text."""
    from maker_cli.specs.canonical import CanonicalError, canonicalize
    from maker_cli.specs.extract import typed_expected

    if answer_regex is None and json_path is None:
        return " ".join(expected.split())  # the whole-response judge collapses whitespace
    try:
        return canonicalize(typed_expected(expected, json_type if json_path else None), list(canonical))
    except (CanonicalError, MakerError) as exc:
        raise ToolError(f"responses[{index}].expected {expected[:40]!r}: {exc}") from None


# --------------------------------------------------------------------------- the server


READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False, idempotent_hint=True)
# not read-only, so that clients ask before a call that spends money
SPENDS = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)
SETS = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)

DESCRIPTIONS = {
    "maker_estimate": (
        "Estimate a MAKER job before running it. Free: no model call. From steps and p (probability that one "
        "valid sample is correct, must be > 0.5) returns the vote margin k (k_min for the target unless k is "
        "given), P(all steps correct), expected votes/samples/calls with percentiles, tokens and dollar cost "
        "(give output_tokens and a model or prices), wall time (give latency_s), the risk of a sample cap and a "
        "comparison over m. The same fields as `maker estimate --json`."
    ),
    "maker_vote": (
        "Get one reliable answer by first-to-ahead-by-k voting: samples a model until one answer leads every "
        "other by k; malformed samples (red flags: too long, wrong format, forbidden pattern) are discarded, "
        "never voted. SPENDS MONEY on a real model: each call is capped at mcp_max_samples samples and "
        "mcp_max_cost_usd dollars (see maker_configure) and refused up front when the worst case exceeds the "
        "dollar cap; the result reports spent_usd. Give prompt (+ system, answer_regex) or task (a YAML spec "
        "path inside the server's working directory) with inputs. Undecided (decided=false) is an outcome, "
        "not an error. model 'sim:p=0.9,answer=42' is a free simulated model for trying it out."
    ),
    "maker_validate": (
        "Check one response against red-flag and format rules, as the voting engine would. Free: no model call. "
        "Rules: answer_regex (named group 'answer') or json_path (+ json_type), canonical normalisation, allowed "
        "values, require, must_not_match patterns, and the output-token limit (give output_tokens from the "
        "provider's usage). Returns valid, every red flag with its reason, and the extracted answer."
    ),
    "maker_calibrate": (
        "Measure p (probability that one valid sample is correct) and the valid rate, with 95% Wilson "
        "intervals, and with steps the recommended k for a target (from the lower bound of p). Two modes: "
        "responses = labelled [{response, expected}] plus answer rules (free, no model call); or task = "
        "'hanoi' (with disks) or a YAML spec path (with items) plus model and samples, which SPENDS MONEY and "
        "is capped like maker_vote."
    ),
    "maker_configure": (
        "Read or set session defaults used by later calls to this server: model, k, max_samples, temperatures, "
        "max_output_tokens, concurrency, target, prices, and the spending caps mcp_max_samples and "
        "mcp_max_cost_usd (per tool call). Call with no arguments to read the effective configuration. Raise "
        "the caps only when the user asked for it."
    ),
}


def build_server(
    settings: Settings,
    *,
    root: Path | None = None,
    allowed_dirs: tuple[Path, ...] = (),
    lock_caps: bool = False,
    log_level: str = "WARNING",
) -> MCPServer:
    """The MCP server with the five maker tools over one session (settings, overrides, spend).

    `root` (default: the working directory) and `allowed_dirs` are the folders specs may be read from.
    """
    session = Session(
        base=settings, root=(root or Path.cwd()).resolve(),
        allowed=tuple(Path(d).resolve() for d in allowed_dirs), lock_caps=lock_caps,
    )
    server = MCPServer(
        "maker", instructions=INSTRUCTIONS, version=__version__, log_level=log_level,  # type: ignore[arg-type]
    )
    tools = MakerTools(session)
    for name, fn, hints in (
        ("maker_estimate", tools.estimate, READ_ONLY),
        ("maker_vote", tools.vote, SPENDS),
        ("maker_validate", tools.validate, READ_ONLY),
        ("maker_calibrate", tools.calibrate, SPENDS),
        ("maker_configure", tools.configure, SETS),
    ):
        server.add_tool(fn, name=name, description=DESCRIPTIONS[name], annotations=hints, structured_output=True)
    return server


__all__ = [
    "build_server", "Session", "MakerTools", "MeteredProvider", "plan_spend", "SpendPlan", "model_prices",
    "EstimateOutput", "VoteOutput", "ValidateOutput", "CalibrateOutput", "ConfigureOutput",
]

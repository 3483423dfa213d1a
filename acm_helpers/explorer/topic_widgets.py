"""Deep-dive topics as ipywidgets: pick a metric, dimension, window... and the answer updates.

Why widgets in the package: analysts explore in JupyterLab with the same functions the packets
run, so what they see is what the meeting sees. Every control is a dropdown whose options are
the program's own ids (an allowlist: no typed text reaches a query), and the callback catches
only :class:`AcmError`, showing its message instead of a traceback.

The output is an ``HTML`` widget holding the topic's self-contained HTML (inline SVG charts), so
it renders with no network and its value can be read back in a test kernel.
"""

from __future__ import annotations

import html

import ipywidgets as widgets

from acm_helpers.core.errors import AcmError, UnknownIdError
from acm_helpers.meetings import deepdive
from acm_helpers.meetings.context import (
    CUTOFF_CHOICES,
    TOPICS,
    WINDOW_CHOICES,
    DeepDiveContext,
    default_metric,
    funnel_metric_id,
    roadmap_item,
)
from acm_helpers.meetings.roadmap import TOPIC_NAMES

# which options each topic takes (beyond the provider)
TOPIC_OPTIONS = {
    "disparity": ("metric", "dimension", "months"),
    "duration_outcome": ("metric", "cutoff_months", "months"),
    "referral_funnel": ("months",),
    "cohort_trend": ("metric", "change_month"),
    "peer_comparison": ("metric", "months"),
}


class Explorer(widgets.VBox):
    """A topic picker and that topic's controls above its live result.

    Attributes:
        topic_control: the topic Dropdown; picking another topic rebuilds the controls with
            that topic's defaults (the roadmap entry's metric, breakdown, change month).
        controls: option name -> Dropdown (``provider`` too, for internal audiences).
        output: the HTML widget showing the current result.
        message: an HTML widget showing an error message, empty when all is well.
        result: the latest :class:`TopicResult` (None after an error).
    """

    def __init__(self, ctx: DeepDiveContext, topic: str, **options):
        if topic not in TOPICS:
            raise UnknownIdError("topic", topic, list(TOPICS))
        self.ctx, self.topic, self.result = ctx, topic, None
        self.topic_control = _dropdown("Topic", [(TOPIC_NAMES[t], t) for t in TOPICS], topic)
        self.topic_control.observe(self._change_topic, names="value")
        self.output = widgets.HTML()
        self.message = widgets.HTML()
        self.bar = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))
        super().__init__([self.bar, self.message, self.output])
        self._build(options)

    @property
    def data(self):
        """The current result's data frame (``view.data`` in the notebook, interactive or not);
        None after an error."""
        return None if self.result is None else self.result.data

    def options(self) -> dict:
        """The topic options currently selected (provider excluded)."""
        return {k: c.value for k, c in self.controls.items() if k != "provider"}

    def _build(self, options: dict) -> None:
        provider = self.controls["provider"].value if getattr(self, "controls", None) else None
        self.controls = _controls(self.ctx, self.topic, dict(options))
        if provider is not None and "provider" in self.controls:
            self.controls["provider"].value = provider  # keep the provider across topics
        for control in self.controls.values():
            control.observe(self._update, names="value")
        self.bar.children = [self.topic_control, *self.controls.values()]
        self._update()

    def _change_topic(self, change) -> None:
        self.topic = change["new"]
        self._build({})

    def _update(self, change=None) -> None:
        ctx = self.ctx
        if "provider" in self.controls and self.controls["provider"].value != ctx.provider_id:
            ctx = ctx.with_(provider_id=self.controls["provider"].value)
        try:
            self.result = deepdive.run(ctx, self.topic, **self.options())
        except AcmError as exc:
            self.result = None
            self.message.value = (
                f'<p class="acm-error" style="color:#c0392b">{html.escape(str(exc))}</p>'
            )
            self.output.value = ""
            return
        self.message.value = ""
        self.output.value = self.result.to_html()


def _dropdown(description: str, options, value) -> widgets.Dropdown:
    return widgets.Dropdown(
        description=description,
        options=options,
        value=value,
        style={"description_width": "initial"},
    )


def _controls(ctx: DeepDiveContext, topic: str, given: dict) -> dict[str, widgets.Dropdown]:
    prog = ctx.program
    out: dict[str, widgets.Dropdown] = {}
    if ctx.audience == "internal":  # a provider-audience view stays on its own provider
        out["provider"] = _dropdown(
            "Provider", [(p.name, p.id) for p in prog.providers], ctx.provider_id
        )
    wanted = TOPIC_OPTIONS[topic]
    item = roadmap_item(prog, ctx.period, topic)
    if "metric" in wanted:
        kinds = (
            ("rate",)
            if topic == "duration_outcome"
            else ("rate", "median", "mean", "sum_ratio", "count")
        )
        choices = [(m.label, k) for k, m in prog.metrics.items() if m.kind in kinds]
        value = given.get("metric") or default_metric(prog, topic, ctx.period)
        if value not in dict((v, k) for k, v in choices):
            value = choices[0][1]
        out["metric"] = _dropdown("Metric", choices, value)
    if topic == "referral_funnel":
        given.setdefault("metric", funnel_metric_id(prog))
    if "dimension" in wanted:
        value = given.get("dimension") or (
            item.dimension if item and item.dimension else next(iter(prog.dimensions))
        )
        out["dimension"] = _dropdown(
            "Breakdown", [(d.label, k) for k, d in prog.dimensions.items()], value
        )
    if "cutoff_months" in wanted:
        out["cutoff_months"] = _dropdown(
            "Split at (months)", list(CUTOFF_CHOICES), given.get("cutoff_months", 3)
        )
    if "change_month" in wanted:
        months = [p for p in prog.periods() if prog.first_period < p <= ctx.period]
        value = given.get("change_month") or (
            item.change_month if item and item.change_month else months[len(months) // 2]
        )
        out["change_month"] = _dropdown("Change month", months, value)
    if "months" in wanted:
        out["months"] = _dropdown("Window (months)", list(WINDOW_CHOICES), given.get("months", 12))
    return out


def show(ctx: DeepDiveContext, topic: str | None = None, interactive: bool = False, **options):
    """The deep-dive notebook's one call: the topic's result, or its explorer when interactive.

    Why one call for both: the same notebook runs in the batch (static HTML via papermill) and in
    JupyterLab (widgets), switched by the ``interactive`` parameter.
    """
    topic = deepdive.topic_for(ctx, topic)
    # The notebook passes every option; each topic takes only its own (empty means default).
    opts = {k: v for k, v in options.items() if k in TOPIC_OPTIONS[topic] and v not in (None, "")}
    if not interactive:
        return deepdive.run(ctx, topic, **opts)
    return Explorer(ctx, topic, **opts)

"""Model providers behind one async interface (litellm, the simulated model)."""


def is_sim(model: str) -> bool:
    """True for the built-in simulated model (`sim` or `sim:key=value,...`): no API calls."""
    return model == "sim" or model.startswith("sim:")

"""Model providers behind one async interface (litellm, the simulated model)."""

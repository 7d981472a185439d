"""maker: run and estimate MDAP jobs with MAKER voting (arXiv:2511.09030)."""

__version__ = "0.1.0"

"""The run store's schema: named migrations, applied in order, each in its own transaction."""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "001_initial",
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            name TEXT,
            model TEXT,
            config TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL DEFAULT 'running',
            message TEXT,
            steps_total INTEGER,
            steps_done INTEGER NOT NULL DEFAULT 0,
            last_step INTEGER,
            last_state TEXT,
            samples INTEGER NOT NULL DEFAULT 0,
            valid INTEGER NOT NULL DEFAULT 0,
            red_flagged INTEGER NOT NULL DEFAULT 0,
            errors INTEGER NOT NULL DEFAULT 0,
            retries INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL,
            wrong_steps INTEGER NOT NULL DEFAULT 0,
            first_error_step INTEGER,
            rounds INTEGER NOT NULL DEFAULT 0,
            wall_s REAL NOT NULL DEFAULT 0,
            red_flag_reasons TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX runs_created ON runs (created_at);
        CREATE TABLE steps (
            run_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            input_state TEXT,
            winner_key TEXT,
            winner_value TEXT,
            decided INTEGER NOT NULL,
            tallies TEXT,
            samples INTEGER NOT NULL,
            valid INTEGER NOT NULL,
            red_flagged INTEGER NOT NULL,
            red_flag_reasons TEXT,
            errors INTEGER NOT NULL,
            retries INTEGER NOT NULL,
            rounds INTEGER NOT NULL,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cost_usd REAL,
            latency_s REAL NOT NULL,
            correct INTEGER,
            PRIMARY KEY (run_id, idx)
        ) WITHOUT ROWID;
        CREATE TABLE samples (
            run_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            temperature REAL,
            text TEXT,
            answer_key TEXT,
            red_flag TEXT,
            input_tokens INTEGER,
            output_tokens INTEGER,
            finish_reason TEXT,
            latency_s REAL,
            PRIMARY KEY (run_id, idx, seq)
        ) WITHOUT ROWID;
        """,
    ),
    (
        "002_run_owner",
        """
        ALTER TABLE runs ADD COLUMN owner TEXT;
        """,
    ),
    (
        "003_cached_tokens",
        """
        ALTER TABLE runs ADD COLUMN cached_tokens INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE steps ADD COLUMN cached_tokens INTEGER NOT NULL DEFAULT 0;
        """,
    ),
    (
        "004_step_confidence",
        """
        ALTER TABLE steps ADD COLUMN confidence REAL;
        """,
    ),
    (
        "005_step_adaptive_k",
        """
        ALTER TABLE steps ADD COLUMN k INTEGER;
        ALTER TABLE steps ADD COLUMN p_hat REAL;
        """,
    ),
    (
        "006_sample_confidence",
        """
        ALTER TABLE samples ADD COLUMN confidence REAL;
        """,
    ),
]

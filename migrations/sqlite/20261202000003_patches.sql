-- Patch management. Times are milliseconds since the Unix epoch, UTC.
-- Every (host, package, version) tended saw pending: when first seen, since when the package has had
-- an update pending (the SLA clock: a newer version superseding an older one keeps it), and how it
-- ended: installed by tended, superseded by a newer version, or gone (no longer pending without
-- tended installing it: patched by hand or withdrawn).
CREATE TABLE patch_versions (
    client TEXT NOT NULL,
    host TEXT NOT NULL,
    package TEXT NOT NULL,
    version TEXT NOT NULL,
    class TEXT NOT NULL,
    advisory TEXT,
    severity TEXT,
    first_seen BIGINT NOT NULL,
    exposed_since BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    installed_at BIGINT,
    installed_run BIGINT,
    closed_at BIGINT,
    closed_how TEXT,
    PRIMARY KEY (client, host, package, version)
);
CREATE INDEX patch_versions_open ON patch_versions (client, host, closed_at);
-- Each decision an engineer made about a package (approve, hold, release), with who, when and why.
CREATE TABLE patch_decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client TEXT NOT NULL,
    package TEXT NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    decided_at BIGINT NOT NULL
);
CREATE INDEX patch_decisions_client ON patch_decisions (client, decided_at);
-- A patch cycle: ring by ring, with the pilot's baseline (JSON {package: version}).
CREATE TABLE patch_cycles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    state TEXT NOT NULL,
    ring BIGINT NOT NULL,
    ring_done_at BIGINT,
    baseline TEXT NOT NULL,
    reason TEXT,
    finished_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX patch_cycles_client ON patch_cycles (client, id);
-- What each cycle did, in order: the evidence of every ring's run and decision.
CREATE TABLE patch_cycle_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cycle_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    ring TEXT NOT NULL,
    what TEXT NOT NULL,
    run_id BIGINT
);
CREATE INDEX patch_cycle_events_cycle ON patch_cycle_events (cycle_id, id);

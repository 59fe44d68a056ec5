-- Every report that is sent, as it was sent: the HTML and text of the mail, the figures as JSON, and
-- the period the query covered. `tended report --archived ID` shows it again byte for byte: the proof
-- of work auditors and cyber insurers ask for.
CREATE TABLE report_archive (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cause TEXT NOT NULL UNIQUE,
    client TEXT NOT NULL,
    period_from BIGINT NOT NULL,
    period_to BIGINT NOT NULL,
    built_at BIGINT NOT NULL,
    subject TEXT NOT NULL,
    recipients TEXT NOT NULL,
    html TEXT NOT NULL,
    text TEXT NOT NULL,
    figures TEXT NOT NULL
);
CREATE INDEX report_archive_client ON report_archive (client, built_at);

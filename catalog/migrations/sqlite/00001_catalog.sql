-- The catalog as of issue 14: recordings, pending uploads, and the show beside a recording
-- (room events, lots, bid logs, timeline parts). Times are ms since the Unix epoch, JSON is
-- TEXT. IF NOT EXISTS: a data dir of a version before goose was brought up to this schema by
-- Open's legacy upgrade (catalog.go) and only gains what it lacks.

-- +goose Up
CREATE TABLE IF NOT EXISTS recordings (
	id TEXT PRIMARY KEY,
	room TEXT NOT NULL,
	title TEXT NOT NULL DEFAULT '',
	description TEXT NOT NULL DEFAULT '',
	seller TEXT NOT NULL DEFAULT '',
	started_at INTEGER NOT NULL,
	ended_at INTEGER,
	duration REAL NOT NULL DEFAULT 0,
	status TEXT NOT NULL,
	progress REAL NOT NULL DEFAULT 0,
	renditions TEXT NOT NULL DEFAULT '[]',
	hls_url TEXT NOT NULL DEFAULT '',
	poster_url TEXT NOT NULL DEFAULT '',
	error TEXT NOT NULL DEFAULT '',
	updated_at INTEGER NOT NULL,
	source TEXT NOT NULL DEFAULT 'live',
	subtitles TEXT NOT NULL DEFAULT '[]',
	log TEXT NOT NULL DEFAULT '',
	tracks TEXT NOT NULL DEFAULT '[]',
	retryable INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS recordings_started ON recordings(started_at DESC, id DESC);

CREATE TABLE IF NOT EXISTS uploads (
	id TEXT PRIMARY KEY,
	room TEXT NOT NULL,
	title TEXT NOT NULL,
	seller TEXT NOT NULL,
	filename TEXT NOT NULL,
	content_type TEXT NOT NULL,
	size INTEGER NOT NULL,
	part_size INTEGER NOT NULL,
	key TEXT NOT NULL,
	multipart_id TEXT NOT NULL,
	state TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_expires ON uploads(expires_at);

CREATE TABLE IF NOT EXISTS live_events (
	room TEXT NOT NULL,
	seq INTEGER NOT NULL,
	at_ms INTEGER NOT NULL,
	kind TEXT NOT NULL,
	data TEXT NOT NULL,
	ref INTEGER NOT NULL DEFAULT 0,
	deleted INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (room, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS live_events_at ON live_events(room, at_ms);
CREATE INDEX IF NOT EXISTS live_events_ref ON live_events(room, kind, ref);

CREATE TABLE IF NOT EXISTS lots (
	room TEXT NOT NULL,
	id TEXT NOT NULL,
	seq INTEGER NOT NULL,
	title TEXT NOT NULL DEFAULT '',
	status TEXT NOT NULL,
	price INTEGER NOT NULL DEFAULT 0,
	winner TEXT NOT NULL DEFAULT '',
	winner_name TEXT NOT NULL DEFAULT '',
	started_at INTEGER NOT NULL DEFAULT 0,
	ended_at INTEGER NOT NULL DEFAULT 0,
	lot TEXT NOT NULL,
	PRIMARY KEY (room, id)
);
CREATE INDEX IF NOT EXISTS lots_started ON lots(room, started_at);

CREATE TABLE IF NOT EXISTS bids (
	room TEXT NOT NULL,
	lot_id TEXT NOT NULL,
	n INTEGER NOT NULL,
	bid TEXT NOT NULL,
	PRIMARY KEY (room, lot_id, n)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS recording_parts (
	recording_id TEXT NOT NULL,
	n INTEGER NOT NULL,
	wall_ms INTEGER NOT NULL,
	start REAL NOT NULL,
	PRIMARY KEY (recording_id, n)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE recording_parts;
DROP TABLE bids;
DROP TABLE lots;
DROP TABLE live_events;
DROP TABLE uploads;
DROP TABLE recordings;

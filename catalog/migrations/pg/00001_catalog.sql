-- The catalog as of issue 14: recordings, pending uploads, and the show beside a recording
-- (room events, lots, bid logs, timeline parts). Times are ms since the Unix epoch (BIGINT),
-- JSON is kept as TEXT so it reads back byte for byte as it was written; ids that order a
-- listing compare bytewise (COLLATE "C"), as in SQLite.

-- +goose Up
CREATE TABLE recordings (
	id TEXT COLLATE "C" PRIMARY KEY,
	room TEXT NOT NULL,
	title TEXT NOT NULL DEFAULT '',
	description TEXT NOT NULL DEFAULT '',
	seller TEXT NOT NULL DEFAULT '',
	started_at BIGINT NOT NULL,
	ended_at BIGINT,
	duration DOUBLE PRECISION NOT NULL DEFAULT 0,
	status TEXT NOT NULL,
	progress DOUBLE PRECISION NOT NULL DEFAULT 0,
	renditions TEXT NOT NULL DEFAULT '[]',
	hls_url TEXT NOT NULL DEFAULT '',
	poster_url TEXT NOT NULL DEFAULT '',
	error TEXT NOT NULL DEFAULT '',
	updated_at BIGINT NOT NULL,
	source TEXT NOT NULL DEFAULT 'live',
	subtitles TEXT NOT NULL DEFAULT '[]',
	log TEXT NOT NULL DEFAULT '',
	tracks TEXT NOT NULL DEFAULT '[]',
	retryable BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX recordings_started ON recordings (started_at DESC, id DESC);

CREATE TABLE uploads (
	id TEXT PRIMARY KEY,
	room TEXT NOT NULL,
	title TEXT NOT NULL,
	seller TEXT NOT NULL,
	filename TEXT NOT NULL,
	content_type TEXT NOT NULL,
	size BIGINT NOT NULL,
	part_size BIGINT NOT NULL,
	key TEXT NOT NULL,
	multipart_id TEXT NOT NULL,
	state TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX uploads_expires ON uploads (expires_at);

CREATE TABLE live_events (
	room TEXT NOT NULL,
	seq BIGINT NOT NULL,
	at_ms BIGINT NOT NULL,
	kind TEXT NOT NULL,
	data TEXT NOT NULL,
	ref BIGINT NOT NULL DEFAULT 0,
	deleted BOOLEAN NOT NULL DEFAULT FALSE,
	PRIMARY KEY (room, seq)
);
CREATE INDEX live_events_at ON live_events (room, at_ms);
CREATE INDEX live_events_ref ON live_events (room, kind, ref);

CREATE TABLE lots (
	room TEXT NOT NULL,
	id TEXT COLLATE "C" NOT NULL,
	seq BIGINT NOT NULL,
	title TEXT NOT NULL DEFAULT '',
	status TEXT NOT NULL,
	price BIGINT NOT NULL DEFAULT 0,
	winner TEXT NOT NULL DEFAULT '',
	winner_name TEXT NOT NULL DEFAULT '',
	started_at BIGINT NOT NULL DEFAULT 0,
	ended_at BIGINT NOT NULL DEFAULT 0,
	lot TEXT NOT NULL,
	PRIMARY KEY (room, id)
);
CREATE INDEX lots_started ON lots (room, started_at);

CREATE TABLE bids (
	room TEXT NOT NULL,
	lot_id TEXT NOT NULL,
	n BIGINT NOT NULL,
	bid TEXT NOT NULL,
	PRIMARY KEY (room, lot_id, n)
);

CREATE TABLE recording_parts (
	recording_id TEXT NOT NULL,
	n INTEGER NOT NULL,
	wall_ms BIGINT NOT NULL,
	start DOUBLE PRECISION NOT NULL,
	PRIMARY KEY (recording_id, n)
);

-- +goose Down
DROP TABLE recording_parts;
DROP TABLE bids;
DROP TABLE lots;
DROP TABLE live_events;
DROP TABLE uploads;
DROP TABLE recordings;

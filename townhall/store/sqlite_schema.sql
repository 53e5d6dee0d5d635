-- schema 0009
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
CREATE TABLE spaces (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            host TEXT NOT NULL,
            host_key_hash TEXT NOT NULL,
            created_at REAL NOT NULL,
            scheduled_start REAL,
            listener_cap BIGINT,
            phase TEXT NOT NULL,
            actual_start REAL,
            ended_at REAL,
            peak_listeners BIGINT NOT NULL DEFAULT 0,
            has_replay INTEGER NOT NULL DEFAULT 0
        , captions INTEGER);
CREATE TABLE seats (
            space_id TEXT NOT NULL,
            seat_id TEXT NOT NULL,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            state TEXT NOT NULL,
            since REAL NOT NULL,
            muted INTEGER NOT NULL,
            muted_by_manager INTEGER NOT NULL,
            PRIMARY KEY (space_id, seat_id)
        );
CREATE INDEX spaces_created_at ON spaces (created_at);
CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            key_hash TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL,
            revoked_at REAL
        );
CREATE TABLE space_owners (
            space_id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            created_at REAL NOT NULL
        );
CREATE TABLE webhook_endpoints (
            id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            url TEXT NOT NULL,
            secret TEXT NOT NULL,
            events TEXT NOT NULL,
            created_at REAL NOT NULL,
            deleted_at REAL
        );
CREATE TABLE webhook_deliveries (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            endpoint_id TEXT NOT NULL,
            event_id TEXT NOT NULL,
            event_type TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at REAL NOT NULL,
            next_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL DEFAULT 'pending',
            UNIQUE (endpoint_id, event_id)
        );
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (state, endpoint_id, seq);
CREATE TABLE webhook_attempts (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            endpoint_id TEXT NOT NULL,
            event_id TEXT NOT NULL,
            event_type TEXT NOT NULL,
            at REAL NOT NULL,
            status INTEGER,
            error TEXT,
            duration_ms INTEGER NOT NULL
        );
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, seq);
CREATE TABLE analytics_samples (
            space_id TEXT NOT NULL,
            at REAL NOT NULL,
            listeners INTEGER NOT NULL,
            joins INTEGER NOT NULL,
            leaves INTEGER NOT NULL,
            reactions INTEGER NOT NULL,
            waiting INTEGER NOT NULL,
            uniques INTEGER NOT NULL,
            PRIMARY KEY (space_id, at)
        );
CREATE TABLE listening_seats (
            space_id TEXT NOT NULL,
            seat TEXT NOT NULL,
            first_at REAL NOT NULL,
            last_at REAL NOT NULL,
            until_at REAL NOT NULL,
            gap_s REAL,
            left_at REAL,
            PRIMARY KEY (space_id, seat)
        );
CREATE TABLE transcript_segments (
            space_id TEXT NOT NULL,
            msn INTEGER NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (space_id, msn)
        );
CREATE TABLE webhook_announcements (
            event_id TEXT PRIMARY KEY,
            space_id TEXT NOT NULL,
            event_type TEXT NOT NULL,
            created_at REAL NOT NULL,
            held_until REAL NOT NULL,
            state TEXT NOT NULL DEFAULT 'open'
        );
CREATE INDEX webhook_announcements_open ON webhook_announcements (state, held_until);

-- Sessions (one per sign-in) and their refresh tokens, and disabled accounts. Every change that must end
-- or alter a grant (a role change, a disable, a session ended) notifies `airline_accounts` with the user
-- id in the same transaction, so every gateway drops what it cached about that user at commit.
ALTER TABLE users
    ADD COLUMN disabled boolean NOT NULL DEFAULT false;

CREATE TABLE sessions
(
    session_id     uuid PRIMARY KEY,
    user_id        uuid        NOT NULL REFERENCES users ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Only a hash of each refresh token is kept. A token is used once: presenting a used one again is reuse,
-- and ends its whole session (the family of tokens rotated from one sign-in).
CREATE TABLE refresh_tokens
(
    token_hash bytea PRIMARY KEY,
    session_id uuid        NOT NULL REFERENCES sessions ON DELETE CASCADE,
    issued_at  timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE FUNCTION notify_account_change() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM pg_notify('airline_accounts', NEW.user_id::text);
    RETURN NEW;
END
$$;

CREATE TRIGGER users_grant_changed
    AFTER UPDATE OF role, disabled ON users
    FOR EACH ROW
    WHEN (OLD.role IS DISTINCT FROM NEW.role OR OLD.disabled IS DISTINCT FROM NEW.disabled)
EXECUTE FUNCTION notify_account_change();

CREATE TRIGGER sessions_ended
    AFTER UPDATE OF revoked_at ON sessions
    FOR EACH ROW
    WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
EXECUTE FUNCTION notify_account_change();

-- Access tokens carry the token version of their account; a token of an older version is
-- refused. A password change, an e-mail change and a staff revocation raise it, which signs
-- every session of the account out.
ALTER TABLE users ADD COLUMN IF NOT EXISTS token_version integer NOT NULL DEFAULT 1 CHECK (token_version > 0);

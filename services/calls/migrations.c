/*
 * The calls schema. Migrations run in order under an advisory lock with
 * search_path set to "calls"; a released migration is never edited, a
 * change is a new entry.
 */
#include "common/schemas.h"

#include "common/consumer.h"
#include "common/pg.h"

const struct cf_migration cf_calls_migrations[] = {
    {1, "consumer bookkeeping and calls",
     CF_CONSUMER_TABLES_SQL
     "CREATE TABLE calls ("
     " call_id uuid PRIMARY KEY,"
     " network_id text NOT NULL,"
     " clinic_id text,"
     " direction text NOT NULL CHECK (direction IN ('inbound','outbound')),"
     " status text NOT NULL CHECK (status IN ('ringing','in_progress','ended')),"
     " contact_key text,"
     " started_at timestamptz NOT NULL,"
     " answered_at timestamptz,"
     " ended_at timestamptz,"
     " outcome text,"
     " ring_seconds integer,"
     " talk_seconds integer,"
     " provider text NOT NULL,"
     " provider_call_id text NOT NULL,"
     " facts integer NOT NULL,"
     " doc jsonb NOT NULL,"
     " updated_at timestamptz NOT NULL DEFAULT now());"
     "CREATE INDEX calls_network_started ON calls (network_id, started_at);"
     "CREATE INDEX calls_contact ON calls (network_id, contact_key, started_at);"},
};

const size_t cf_calls_migrations_n = sizeof(cf_calls_migrations) / sizeof(cf_calls_migrations[0]);

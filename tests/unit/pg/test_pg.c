/*
 * Unit tests for common/pg.h without a server: the SQLSTATE to cf_err
 * mapping. Codes are from PostgreSQL's documented error code table
 * (Appendix A, "PostgreSQL Error Codes").
 */
#include <stddef.h>

#include "common/err.h"
#include "cftest.h"
#include "pg_testable.h"

struct sqlstate_case {
    const char *sqlstate;
    int err;
};

static const struct sqlstate_case cases[] = {
    {"23505", CF_ECONFLICT}, /* unique_violation */
    {"23503", CF_EINVAL},    /* foreign_key_violation */
    {"23502", CF_EINVAL},    /* not_null_violation */
    {"23514", CF_EINVAL},    /* check_violation */
    {"22P02", CF_EINVAL},    /* invalid_text_representation */
    {"22001", CF_EINVAL},    /* string_data_right_truncation */
    {"22003", CF_EINVAL},    /* numeric_value_out_of_range */
    {"08006", CF_EUNAVAIL},  /* connection_failure */
    {"08001", CF_EUNAVAIL},  /* sqlclient_unable_to_establish_sqlconnection */
    {"57P01", CF_EUNAVAIL},  /* admin_shutdown */
    {"57P03", CF_EUNAVAIL},  /* cannot_connect_now */
    {"53300", CF_EUNAVAIL},  /* too_many_connections */
    {"40001", CF_EUNAVAIL},  /* serialization_failure */
    {"40P01", CF_EUNAVAIL},  /* deadlock_detected */
    {"55P03", CF_EUNAVAIL},  /* lock_not_available */
    {"57014", CF_ETIMEOUT},  /* query_canceled (statement_timeout) */
    {"21000", CF_EINVAL},    /* cardinality_violation: a row touched twice */
    {"P0001", CF_EINVAL},    /* raise_exception: a PL/pgSQL guard refused */
    {"27000", CF_EINVAL},    /* triggered_data_change_violation */
    {"54000", CF_EINVAL},    /* program_limit_exceeded: a value too big for its index row */
    {"54001", CF_EINTERNAL}, /* statement_too_complex: the statement's, not the data's */
    {"25006", CF_EINTERNAL}, /* read_only_sql_transaction: a standby, not the data */
    {"58030", CF_EINTERNAL}, /* io_error */
    {"42703", CF_EINTERNAL}, /* undefined_column: a migration, not the data */
    {"42601", CF_EINTERNAL}, /* syntax_error */
    {"42P01", CF_EINTERNAL}, /* undefined_table */
    {"42501", CF_EINTERNAL}, /* insufficient_privilege */
    {"XX000", CF_EINTERNAL}, /* internal_error */
    {"", CF_EUNAVAIL},       /* no SQLSTATE: the connection failed */
    {"2350", CF_EUNAVAIL},   /* malformed */
    {NULL, CF_EUNAVAIL},
};

int main(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int err = cf_pg_sqlstate_err(cases[i].sqlstate);
        if (err != cases[i].err)
            fprintf(stderr, "sqlstate %s\n", cases[i].sqlstate ? cases[i].sqlstate : "(null)");
        CHECK_INT(err, cases[i].err);
    }
    return cf_test_done();
}

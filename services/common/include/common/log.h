/*
 * JSON-lines logging on stderr: {"time","level","service","msg",...}.
 * One line per call, written with a single write(2) so lines from several
 * threads never interleave. Callers must not pass secrets or phone numbers.
 */
#ifndef CF_COMMON_LOG_H
#define CF_COMMON_LOG_H

enum cf_log_level { CF_LOG_DEBUG = 0, CF_LOG_INFO, CF_LOG_WARN, CF_LOG_ERROR };

/* Set once in main before threads start. service is copied. */
void cf_log_init(const char *service, enum cf_log_level level);
/* Parses "debug|info|warn|error"; returns 0 or CF_EINVAL. */
int cf_log_level_parse(const char *s, enum cf_log_level *out);

/* Thread-local request/event id added to every line of this thread while set
 * (NULL clears it). The string is copied. */
void cf_log_set_request_id(const char *id);

void cf_log(enum cf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define cf_debug(...) cf_log(CF_LOG_DEBUG, __VA_ARGS__)
#define cf_info(...) cf_log(CF_LOG_INFO, __VA_ARGS__)
#define cf_warn(...) cf_log(CF_LOG_WARN, __VA_ARGS__)
#define cf_error(...) cf_log(CF_LOG_ERROR, __VA_ARGS__)

/* strerror_r into a thread-local buffer (for log lines). */
const char *cf_strerror(int errnum);

#endif

/*
 * clinicflow-devbroker: an in-memory Kafka-protocol broker for development and
 * tests, built on librdkafka's mock cluster. It creates every topic of the
 * proto catalogue with its partition count before it publishes anything, so a
 * client never meets a topic the mock cluster auto-created with the wrong
 * shape; the bootstrap file therefore appears last and its existence means
 * "ready". Brokers are taken down and up, and request errors injected, over a
 * loopback HTTP control interface (control.c), because only this process can
 * drive its mock cluster. SIGINT/SIGTERM are blocked before any library
 * thread starts and main waits for them in sigwait.
 */
#include "devbroker.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"

/* Hard limit for the shutdown sequence; SIGALRM then ends the process. */
#define SHUTDOWN_LIMIT_S 10

struct options {
    const char *catalogue;
    long brokers;
    const char *bootstrap_file;
    const char *control_file;
    long control_port;
    const char *log_level;
};

/* Environment defaults (read once, before any thread); flags override them. */
static char *env_catalogue, *env_bootstrap_file, *env_control_file, *env_log_level;
static long env_brokers, env_control_port;

static const struct cf_config_var env_vars[] = {
    {"CLINICFLOW_DEVBROKER_CATALOGUE", CF_CONF_STRING, NULL, &env_catalogue, 0, 0, 0,
     "topic catalogue (proto/topics.json)", NULL},
    {"CLINICFLOW_DEVBROKER_BROKERS", CF_CONF_INT, "3", &env_brokers, 1, DEVBROKER_MAX_BROKERS, 0,
     "number of mock brokers", NULL},
    {"CLINICFLOW_DEVBROKER_BOOTSTRAP_FILE", CF_CONF_STRING, NULL, &env_bootstrap_file, 0, 0, 0,
     "file that receives the bootstrap list once topics exist", NULL},
    {"CLINICFLOW_DEVBROKER_CONTROL_FILE", CF_CONF_STRING, NULL, &env_control_file, 0, 0, 0,
     "file that receives the control address 127.0.0.1:PORT", NULL},
    {"CLINICFLOW_DEVBROKER_CONTROL_PORT", CF_CONF_INT, "0", &env_control_port, 0, 65535, 0,
     "control HTTP port on 127.0.0.1 (0: ephemeral)", NULL},
    {"CLINICFLOW_LOG_LEVEL", CF_CONF_STRING, "info", &env_log_level, 0, 0, 0,
     "debug, info, warn or error", NULL},
};
#define N_ENV_VARS (sizeof(env_vars) / sizeof(env_vars[0]))

static void usage(FILE *fp)
{
    fprintf(fp, "usage: clinicflow-devbroker --catalogue FILE [--brokers N] "
                "[--bootstrap-file FILE]\n"
                "                            [--control-file FILE] [--control-port PORT]\n");
}

/* Parses a decimal flag value within [min, max]; returns 0 or CF_EINVAL. */
static int parse_long(const char *flag, const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "clinicflow-devbroker: %s: expected an integer in %ld..%ld, got '%s'\n",
                flag, min, max, s);
        return CF_EINVAL;
    }
    *out = v;
    return 0;
}

/* Fills opt from the environment table and then the command line. Returns
 * 0, 1 when --help was asked, or CF_EINVAL after printing the reason. */
static int parse_options(int argc, char **argv, struct options *opt)
{
    static const struct option longopts[] = {
        {"catalogue", required_argument, NULL, 'c'},
        {"brokers", required_argument, NULL, 'b'},
        {"bootstrap-file", required_argument, NULL, 'f'},
        {"control-file", required_argument, NULL, 'F'},
        {"control-port", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char errbuf[512];
    int c;

    if (cf_config_load(env_vars, N_ENV_VARS, errbuf, sizeof(errbuf)) != 0) {
        fprintf(stderr, "clinicflow-devbroker: %s\n", errbuf);
        return CF_EINVAL;
    }
    opt->catalogue = env_catalogue;
    opt->brokers = env_brokers;
    opt->bootstrap_file = env_bootstrap_file;
    opt->control_file = env_control_file;
    opt->control_port = env_control_port;
    opt->log_level = env_log_level;

    // getopt_long keeps global state; it runs before any thread exists.
    // NOLINTNEXTLINE(concurrency-mt-unsafe)
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            opt->catalogue = optarg;
            break;
        case 'b':
            if (parse_long("--brokers", optarg, 1, DEVBROKER_MAX_BROKERS, &opt->brokers))
                return CF_EINVAL;
            break;
        case 'f':
            opt->bootstrap_file = optarg;
            break;
        case 'F':
            opt->control_file = optarg;
            break;
        case 'p':
            if (parse_long("--control-port", optarg, 0, 65535, &opt->control_port))
                return CF_EINVAL;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return CF_EINVAL;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "clinicflow-devbroker: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return CF_EINVAL;
    }
    if (!opt->catalogue) {
        fprintf(stderr, "clinicflow-devbroker: --catalogue (or "
                        "CLINICFLOW_DEVBROKER_CATALOGUE) is required\n");
        return CF_EINVAL;
    }
    return 0;
}

/* Writes content to path through a temporary file and rename(2), so a reader
 * sees either no file or the whole content. Returns 0 or CF_EINTERNAL. */
static int write_file_atomic(const char *path, const char *content)
{
    char *tmp = cf_xasprintf("%s.tmp.%ld", path, (long)getpid());
    size_t len = strlen(content), off = 0;
    int fd, err = CF_EINTERNAL;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        cf_error("could not create %s: %s", tmp, cf_strerror(errno));
        goto out;
    }
    while (off < len) {
        ssize_t n = write(fd, content + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cf_error("could not write %s: %s", tmp, cf_strerror(errno));
            close(fd);
            unlink(tmp);
            goto out;
        }
        off += (size_t)n;
    }
    if (close(fd) != 0) {
        cf_error("could not close %s: %s", tmp, cf_strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        cf_error("could not rename %s to %s: %s", tmp, path, cf_strerror(errno));
        unlink(tmp);
        goto out;
    }
    err = 0;
out:
    free(tmp);
    return err;
}

/* Routes librdkafka's own log lines into the JSON-lines log. */
static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= 3)
        cf_error("rdkafka %s: %s", fac, buf);
    else if (level == 4)
        cf_warn("rdkafka %s: %s", fac, buf);
    else if (level <= 6)
        cf_info("rdkafka %s: %s", fac, buf);
    else
        cf_debug("rdkafka %s: %s", fac, buf);
}

/* A producer handle that only hosts the mock cluster's threads. */
static rd_kafka_t *kafka_handle_new(void)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    char errstr[512];

    if (rd_kafka_conf_set(conf, "client.id", "clinicflow-devbroker", errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
        cf_error("could not set client.id: %s", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        cf_error("could not create the kafka handle: %s", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return rk;
}

/* Creates every catalogue topic with replication factor min(3, brokers). */
static int create_topics(rd_kafka_mock_cluster_t *mcluster, const struct devbroker_catalogue *cat,
                         int brokers)
{
    int rf = brokers < 3 ? brokers : 3;

    for (size_t i = 0; i < cat->n; i++) {
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mcluster, cat->topics[i].name,
                                                             cat->topics[i].partitions, rf);
        if (err) {
            cf_error("could not create topic %s: %s", cat->topics[i].name, rd_kafka_err2str(err));
            return CF_EINTERNAL;
        }
        cf_info("created topic %s with %d partitions, replication factor %d", cat->topics[i].name,
                cat->topics[i].partitions, rf);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options opt;
    struct devbroker_catalogue cat = {NULL, 0};
    struct devbroker_control *ctl = NULL;
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mcluster = NULL;
    enum cf_log_level level;
    sigset_t sigs;
    struct sigaction sa;
    char errbuf[512];
    char *line = NULL;
    int rc, sig, exit_code = 1;

    rc = parse_options(argc, argv, &opt);
    if (rc != 0) {
        cf_config_free(env_vars, N_ENV_VARS);
        return rc > 0 ? 0 : 2;
    }
    if (cf_log_level_parse(opt.log_level, &level) != 0) {
        fprintf(stderr,
                "clinicflow-devbroker: CLINICFLOW_LOG_LEVEL: expected "
                "debug|info|warn|error, got '%s'\n",
                opt.log_level);
        cf_config_free(env_vars, N_ENV_VARS);
        return 2;
    }
    cf_log_init("devbroker", level);
    if (devbroker_catalogue_load(opt.catalogue, &cat, errbuf, sizeof(errbuf)) != 0) {
        cf_error("invalid catalogue: %s", errbuf);
        cf_config_free(env_vars, N_ENV_VARS);
        return 2;
    }
    cf_info("devbroker starting: catalogue %s (%zu topics), %ld brokers, control port %ld",
            opt.catalogue, cat.n, opt.brokers, opt.control_port);

    /* A reader waiting for these files must never see a previous run's. */
    if (opt.bootstrap_file)
        unlink(opt.bootstrap_file);
    if (opt.control_file)
        unlink(opt.control_file);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    rk = kafka_handle_new();
    if (!rk)
        goto out;
    mcluster = rd_kafka_mock_cluster_new(rk, (int)opt.brokers);
    if (!mcluster) {
        cf_error("could not create the mock cluster with %ld brokers", opt.brokers);
        goto out;
    }
    if (create_topics(mcluster, &cat, (int)opt.brokers) != 0)
        goto out;

    /* From here on only the control module calls the mock cluster API. */
    ctl = devbroker_control_start(mcluster, (int)opt.brokers, opt.control_port, errbuf,
                                  sizeof(errbuf));
    if (!ctl) {
        cf_error("%s", errbuf);
        goto out;
    }
    cf_info("control interface on 127.0.0.1:%d", devbroker_control_port(ctl));
    if (opt.control_file) {
        line = cf_xasprintf("127.0.0.1:%d\n", devbroker_control_port(ctl));
        if (write_file_atomic(opt.control_file, line) != 0)
            goto out;
        free(line);
        line = NULL;
    }

    line = cf_xasprintf("%s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
    if (opt.bootstrap_file && write_file_atomic(opt.bootstrap_file, line) != 0)
        goto out;
    fputs(line, stdout);
    fflush(stdout);
    cf_info("ready: bootstrap %s", rd_kafka_mock_cluster_bootstraps(mcluster));

    if (sigwait(&sigs, &sig) != 0)
        sig = SIGTERM;
    cf_info("received signal %d, shutting down", sig);
    /* A second signal ends the process at once; SIGALRM bounds the rest. */
    sa.sa_handler = SIG_DFL;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
    alarm(SHUTDOWN_LIMIT_S);
    exit_code = 0;

out:
    devbroker_control_stop(ctl);
    if (opt.bootstrap_file)
        unlink(opt.bootstrap_file);
    if (opt.control_file)
        unlink(opt.control_file);
    if (mcluster)
        rd_kafka_mock_cluster_destroy(mcluster);
    if (rk)
        rd_kafka_destroy(rk);
    free(line);
    devbroker_catalogue_free(&cat);
    cf_config_free(env_vars, N_ENV_VARS);
    if (exit_code == 0)
        cf_info("devbroker stopped");
    return exit_code;
}

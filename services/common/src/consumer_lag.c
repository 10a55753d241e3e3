/*
 * The consumer runner's lag gauge (clinicflow_consumer_lag{group,topic}):
 * each runner's share of its group's lag on each topic, from the cached
 * high watermarks and its positions. consumer.c calls it after each
 * committed batch and when idle.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/metrics.h"
#include "common/time.h"
#include "consumer_testable.h"

/* Lag = cached high watermark - position, per topic and in total. Uses only
 * cached values: never a request to the brokers. The gauge of a group and
 * topic is the sum of its runners' shares in this process (several fold
 * runners split a topic's partitions): each runner adds the change of its
 * own. */
void cf_consumer_refresh_lag(struct cf_consumer *c)
{
    c->lag_refreshed_ms = cf_time_mono_ms();
    rd_kafka_topic_partition_list_t *asg = NULL;
    if (rd_kafka_assignment(c->rk, &asg) || !asg) {
        if (asg)
            rd_kafka_topic_partition_list_destroy(asg);
        return;
    }
    rd_kafka_position(c->rk, asg);
    long long total = 0;
    int known = 0;
    for (size_t t = 0; t < c->ntopics; t++) {
        long long topic_lag = 0;
        int assigned = 0, unknown = 0;
        for (int i = 0; i < asg->cnt; i++) {
            rd_kafka_topic_partition_t *rktpar = &asg->elems[i];
            if (strcmp(rktpar->topic, c->topics[t]) != 0)
                continue;
            assigned++;
            int64_t lo = -1, hi = -1;
            if (rd_kafka_get_watermark_offsets(c->rk, rktpar->topic, rktpar->partition, &lo, &hi) ||
                hi < 0 || rktpar->offset < 0) {
                unknown++;
                continue;
            }
            topic_lag += hi > rktpar->offset ? hi - rktpar->offset : 0;
        }
        if (assigned > 0 && unknown == assigned)
            continue; /* nothing known yet: the share stays as it was */
        char labels[512];
        snprintf(labels, sizeof(labels), "group=\"%s\",topic=\"%s\"", c->group_id, c->topics[t]);
        cf_metrics_add("clinicflow_consumer_lag", labels,
                       (double)(topic_lag - c->published_lag[t]));
        c->published_lag[t] = topic_lag;
        total += topic_lag;
        known = known || assigned > 0;
    }
    atomic_store(&c->lag, known ? total : -1);
    rd_kafka_topic_partition_list_destroy(asg);
}

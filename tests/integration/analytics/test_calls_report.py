"""The calls report end to end, every figure computed by hand: the real
clinicflow-calls takes a few dozen calls of three local days in two clinics
through its public webhooks (the generic hook and Mango's signed VPBX
events, both as their senders post them), folds them, opens and closes the
callback tasks; clinicflow-analytics, on the same database, Redis and
devbroker, consumes calls.v1 and tasks.v1; GET /v1/reports/calls must then
answer exactly the figures below (proto/README.md, "Analytics reports: the
calls report"), in JSON and in CSV.

The demo network is in Europe/Moscow (UTC+3, no daylight saving): local
days are not UTC days, and three calls below sit across that line.

Callbacks are posted before the missed calls they answer: a callback task
opens at its missed call's end (event time, days ago here), so with the
short lost-after period set below it is overdue the moment it opens; the
callbacks consumer finds its callback in the call store and closes it at
once (services/calls/tasks.c, open_task), and the two tasks with no callback
expire at the sweeper's next round. Nothing depends on when a post lands.
"""
import hashlib
import json
import urllib.parse
from datetime import datetime, timedelta, timezone

import cfstack
from common import (CALLS, TASKS, CALL_COUNT_FIELDS, Stack, assert_csv_matches, assert_figures,
                    assert_rows, figures, latest_by_subject, wait_until)

MSK = timezone(timedelta(hours=3))
D1, D2, D3 = "2026-11-17", "2026-11-18", "2026-11-19"

CALLS_ENV = {
    # the calls are days old: take webhook times of any past date
    "CLINICFLOW_CALLS_HOOK_MAX_AGE_S": 315360000,
    # callback due 10 minutes after the missed call, lost after an hour
    "CLINICFLOW_CALLS_CALLBACK_SLA_S": 600,
    "CLINICFLOW_CALLS_TASK_LOST_AFTER_S": 3600,
    "CLINICFLOW_CALLS_SWEEP_INTERVAL_MS": 200,
}

MANGO_KEY = "demo-mango-vpbx-api-key-0001"  # deploy/local/demo-network.json, channel demo-mango
MANGO_SALT = "demo-mango-vpbx-api-salt-0001"

# Contacts: A* call the centre, B* the north clinic (A2 calls both).
A = {i: "+7916555%04d" % i for i in range(1, 13)}
B = {i: "+7916555%04d" % (100 + i) for i in range(1, 10)}

# Tracking numbers of the demo network (deploy/local/demo-network.json):
SITE = "+74950000304"         # demo-center: source site (valid from 2026-01-01)
YANDEX = "74950000301"        # demo-center: yandex_direct (Mango line; valid all of 2026)
PRODOCTOROV = "+74950000305"  # demo-north: prodoctorov (valid from 2026-02-01)
NORTH_LINE = "74950000302"    # demo-north's Mango line: google_ads only until 2026-06-30,
#                               so in November its calls carry no attribution
CENTER_LINE = "74950000203"   # demo-center's Mango line, no tracking entry
CENTER_PHONE = "+74950000101"  # demo-center's own number (tracks nothing)
NORTH_PHONE = "+74950000102"


def local(day, hms):
    """A local (Moscow) time as an aware datetime."""
    return datetime.strptime(day + " " + hms, "%Y-%m-%d %H:%M:%S").replace(tzinfo=MSK)


def utc(ymd_hms):
    return datetime.strptime(ymd_hms, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)


def z(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def unix(dt):
    return int(dt.timestamp())


# --- the calls ----------------------------------------------------------------
#
# Every call, as the calls service must fold it (checked before the report:
# see expected_calls). In the report a call counts on the local day of its
# start; talk time counts for answered calls of both directions. Sources:
# site, yan(dex_direct), prod(octorov), - (none). Groups: cc (call centre),
# rec (reception).
#
#  id   clinic  local start  route  dir  outcome    uniq targ grp  talk source
#  c1   center  D1 09:00:00  gener  in   answered   yes  yes  cc    180 site
#  c2   center  D1 10:00:00  mango  in   answered   yes  yes  rec    60 yan
#  c3   center  D1 11:00:00  mango  in   answered   yes  no   cc     15 yan
#  c4   center  D1 12:00:00  gener  out  answered   -    -    -     120 -
#  c5   center  D1 13:00:00  gener  in   missed     yes  no   -       - site
#  c6   center  D1 13:05:00  gener  out  answered   -    -    -     120 -     calls c5 back
#  c7   center  D1 14:00:00  mango  in   abandoned  yes  no   -       - yan   rang 6 s
#  c8   center  D2 01:30:00  gener  in   answered   yes  yes  cc     45 -     (*)
#  c9   center  D2 10:00:00  gener  in   answered   no   yes  rec    30 site  A1 again
#  c10  center  D2 15:00:00  mango  in   answered   no   yes  cc    600 yan   A1 again
#  c11  center  D2 11:00:00  mango  in   missed     yes  no   -       - yan   rang 40 s
#  c12  center  D2 11:14:00  mango  out  answered   -    -    -     120 -     calls c11 back
#  c13  center  D2 16:00:00  gener  in   missed     yes  no   -       - site
#  c14  center  D2 16:25:00  gener  in   answered   no   yes  cc     60 site  A9 calls back
#  c15  center  D2 23:59:50  gener  in   missed     yes  no   -       - -     (**)
#  c16  center  D3 00:02:00  gener  out  answered   -    -    -      60 -     calls c15 back
#  c17  center  D3 09:00:00  mango  in   answered   yes  yes  rec   300 -     line w/o tracking
#  c18  center  D3 10:00:00  gener  in   busy       yes  no   -       - site
#  c19  center  D3 10:03:00  gener  out  answered   -    -    -     120 -     calls c18 back
#  n1   north   D1 09:30:00  mango  in   answered   yes  yes  rec   120 -     tracking expired
#  n2   north   D1 12:00:00  gener  in   answered   yes  yes  cc     40 prod
#  n3   north   D1 17:00:00  gener  in   abandoned  yes  no   -       - prod  rang 8 s
#  n4   north   D1 17:04:00  gener  out  answered   -    -    -      60 -     calls n3 back
#  n5   north   D2 09:00:00  gener  in   answered   no   no   rec    15 prod  B2 again
#  n13  north   D2 13:00:00  gener  in   missed     yes  no   -       - prod  never called back
#  n6   north   D3 01:10:00  gener  in   missed     yes  no   -       - prod  (***)
#  n7   north   D3 01:15:00  mango  out  answered   -    -    -     120 -     calls n6 back (***)
#  n8   north   D3 14:00:00  mango  in   answered   yes  yes  cc   1200 -
#  n9   north   D3 15:00:00  mango  out  answered   -    -    -      60 -
#  n10  north   D3 16:00:00  gener  out  failed     -    -    -       - -
#  n11  north   D3 18:00:00  gener  in   (started, never ended: counted nowhere)
#  n12  north   D3 11:00:00  gener  in   answered   no   yes  rec    60 prod  A2 (called c2)
# (*)   2026-11-17 22:30 UTC: D1 in UTC, D2 in Moscow.
# (**)  2026-11-18 20:59:50 UTC, ended 21:00:20 UTC = D3 00:00:20 local: the
#       call is D2's, its callback task (opened at the call's end) D3's.
# (***) 2026-11-18 22:10 and 22:15 UTC: D2 in UTC, D3 in Moscow.
#
# Callback tasks (SLA 600 s; opened at the missed call's end; counted on
# that local day, in the call's clinic, under the source of that call):
#
#  task clinic opened (local) source closed by  seconds_to_callback       on time  <= 900 s
#  c5   center D1 13:00:30    site   c6         13:05:30-13:00:30 =  300  yes      yes
#  c7   center D1 14:00:06    yan    -          expired (lost)
#  c11  center D2 11:00:40    yan    c12        11:15:40-11:00:40 =  900  no       yes
#  c13  center D2 16:00:20    site   c14        16:25:20-16:00:20 = 1500  no       no
#  c15  center D3 00:00:20    -      c16        00:02:20-00:00:20 =  120  yes      yes
#  c18  center D3 10:00:15    site   c19        10:03:40-10:00:15 =  205  yes      yes
#  n3   north  D1 17:00:08    prod   n4         17:04:08-17:00:08 =  240  yes      yes
#  n13  north  D2 13:00:40    prod   -          expired (lost)
#  n6   north  D3 01:10:25    prod   n7         01:19:35-01:10:25 =  550  yes      yes


def expected_calls():
    """{provider call id: what the calls service's latest event of the call
    must say} for the facts the figures rest on."""
    def inb(clinic, outcome, unique, source, targeted=False, group=None, talk=None):
        return dict(clinic=clinic, direction="inbound", status="ended", outcome=outcome,
                    unique=unique, targeted=targeted, group=group, talk=talk, source=source)

    def out(clinic, outcome="answered", talk=None):
        return dict(clinic=clinic, direction="outbound", status="ended", outcome=outcome,
                    unique=None, targeted=False, group=None, talk=talk, source=None)
    c, n = "demo-center", "demo-north"
    return {
        "an-c1": inb(c, "answered", True, "site", True, "call_center", 180),
        "an-c2": inb(c, "answered", True, "yandex_direct", True, "reception", 60),
        "an-c3": inb(c, "answered", True, "yandex_direct", False, "call_center", 15),
        "an-c4": out(c, talk=120),
        "an-c5": inb(c, "missed", True, "site"),
        "an-c6": out(c, talk=120),
        "an-c7": inb(c, "abandoned", True, "yandex_direct"),
        "an-c8": inb(c, "answered", True, None, True, "call_center", 45),
        "an-c9": inb(c, "answered", False, "site", True, "reception", 30),
        "an-c10": inb(c, "answered", False, "yandex_direct", True, "call_center", 600),
        "an-c11": inb(c, "missed", True, "yandex_direct"),
        "an-c12": out(c, talk=120),
        "an-c13": inb(c, "missed", True, "site"),
        "an-c14": inb(c, "answered", False, "site", True, "call_center", 60),
        "an-c15": inb(c, "missed", True, None),
        "an-c16": out(c, talk=60),
        "an-c17": inb(c, "answered", True, None, True, "reception", 300),
        "an-c18": inb(c, "busy", True, "site"),
        "an-c19": out(c, talk=120),
        "an-n1": inb(n, "answered", True, None, True, "reception", 120),
        "an-n2": inb(n, "answered", True, "prodoctorov", True, "call_center", 40),
        "an-n3": inb(n, "abandoned", True, "prodoctorov"),
        "an-n4": out(n, talk=60),
        "an-n5": inb(n, "answered", False, "prodoctorov", False, "reception", 15),
        "an-n6": inb(n, "missed", True, "prodoctorov"),
        "an-n7": out(n, talk=120),
        "an-n8": inb(n, "answered", True, None, True, "call_center", 1200),
        "an-n9": out(n, talk=60),
        "an-n10": out(n, outcome="failed"),
        "an-n11": dict(clinic=n, direction="inbound", status="ringing"),
        "an-n12": inb(n, "answered", False, "prodoctorov", True, "reception", 60),
        "an-n13": inb(n, "missed", True, "prodoctorov"),
    }


# {missed call: (clinic, status, seconds_to_callback, on_time)}
EXPECTED_TASKS = {
    "an-c5": ("demo-center", "closed", 300, True),
    "an-c7": ("demo-center", "expired", None, None),
    "an-c11": ("demo-center", "closed", 900, False),
    "an-c13": ("demo-center", "closed", 1500, False),
    "an-c15": ("demo-center", "closed", 120, True),
    "an-c18": ("demo-center", "closed", 205, True),
    "an-n3": ("demo-north", "closed", 240, True),
    "an-n13": ("demo-north", "expired", None, None),
    "an-n6": ("demo-north", "closed", 550, True),
}

# --- the expected figures, by hand --------------------------------------------
# calls tuple: (inbound, outbound, answered, unique, targeted, missed, abandoned,
#               answered_call_center, answered_reception, talk_seconds)
# tasks tuple: (callback_tasks, called_back, called_back_on_time, lost)
# percentile_cont over n sorted values v[0..n-1]: position q*(n-1), linear
# between the two neighbours.

# Centre, D1: c1 c2 c3 c5 c7 in, c4 c6 out; answered c1 c2 c3; unique c1 c2 c3 c5 c7;
# targeted c1 c2; missed c5 c7 (c7 abandoned); cc c1 c3, rec c2;
# talk 180+60+15+120+120 = 495.
CENTER_D1_CALLS = (5, 2, 3, 5, 2, 2, 1, 2, 1, 495)
# Centre, D2: c8 c9 c10 c11 c13 c14 c15 in, c12 out; answered c8 c9 c10 c14; unique c8 c11
# c13 c15; targeted c8 c9 c10 c14; missed c11 c13 c15; cc c8 c10 c14, rec c9;
# talk 45+30+600+120+60 = 855.
CENTER_D2_CALLS = (7, 1, 4, 4, 4, 3, 0, 3, 1, 855)
# Centre, D3: c17 c18 in, c16 c19 out; answered c17; unique c17 c18; targeted c17; missed c18;
# rec c17; talk 60+300+120 = 480.
CENTER_D3_CALLS = (2, 2, 1, 2, 1, 1, 0, 0, 1, 480)
# North, D1: n1 n2 n3 in, n4 out; answered n1 n2; unique n1 n2 n3; targeted n1 n2; missed n3
# (abandoned); cc n2, rec n1; talk 120+40+60 = 220.
NORTH_D1_CALLS = (3, 1, 2, 3, 2, 1, 1, 1, 1, 220)
# North, D2: n5 n13 in; answered n5; unique n13; targeted none (n5 talked 15 s); missed n13;
# rec n5; talk 15.
NORTH_D2_CALLS = (2, 0, 1, 1, 0, 1, 0, 0, 1, 15)
# North, D3: n6 n8 n12 in, n7 n9 n10 out (n11 never ended); answered n8 n12; unique n6 n8;
# targeted n8 n12; missed n6; cc n8, rec n12; talk 120+1200+60+60 = 1440.
NORTH_D3_CALLS = (3, 3, 2, 2, 2, 1, 0, 1, 1, 1440)

# By clinic (sum of its three days):
# centre: 5+7+2=14 in, 2+1+2=5 out, 3+4+1=8 answered, 5+4+2=11 unique, 2+4+1=7 targeted,
#   2+3+1=6 missed, 1 abandoned, 2+3+0=5 cc, 1+1+1=3 rec, 495+855+480=1830 talk;
#   share 5/8. Tasks c5 c7 c11 c13 c15 c18: 6, called back 5, on time 3 (c5 c15 c18), lost 1;
#   rate 5/6; seconds sorted 120 205 300 900 1500: median 300, p90 at 0.9*4=3.6:
#   900+0.6*(1500-900) = 1260; within 15 min 120 205 300 900: 4/6.
CENTER = figures((14, 5, 8, 11, 7, 6, 1, 5, 3, 1830), 5 / 8, (6, 5, 3, 1), 5 / 6, 300, 1260, 4 / 6)
# north: 3+2+3=8 in, 1+0+3=4 out, 2+1+2=5 answered, 3+1+2=6 unique, 2+0+2=4 targeted,
#   1+1+1=3 missed, 1 abandoned, 1+0+1=2 cc, 1+1+1=3 rec, 220+15+1440=1675 talk; share 2/5.
#   Tasks n3 n13 n6: 3, called back 2, on time 2, lost 1; rate 2/3; seconds 240 550:
#   median (240+550)/2 = 395, p90 at 0.9*1: 240+0.9*310 = 519; within 15 min 2/3.
NORTH = figures((8, 4, 5, 6, 4, 3, 1, 2, 3, 1675), 2 / 5, (3, 2, 2, 1), 2 / 3, 395, 519, 2 / 3)
# Everything: 14+8=22 in, 5+4=9 out, 8+5=13 answered, 11+6=17 unique, 7+4=11 targeted,
#   6+3=9 missed, 2 abandoned, 5+2=7 cc, 3+3=6 rec, 1830+1675=3505 talk; share 7/13.
#   Tasks 9, called back 7, on time 5, lost 2; rate 7/9; seconds sorted
#   120 205 240 300 550 900 1500: median v[3] = 300; p90 at 0.9*6=5.4: 900+0.4*600 = 1140;
#   within 15 min: all but 1500, 6/9.
TOTAL = figures((22, 9, 13, 17, 11, 9, 2, 7, 6, 3505), 7 / 13, (9, 7, 5, 2), 7 / 9, 300, 1140,
                6 / 9)

# By day (both clinics):
# D1: calls centre D1 + north D1 = (8, 3, 5, 8, 4, 3, 2, 3, 2, 715), share 3/5.
#   Tasks c5 (300, on time), c7 (lost), n3 (240, on time): 3, 2, 2, 1; rate 2/3;
#   median (240+300)/2 = 270; p90 240+0.9*60 = 294; within 15 min 2/3.
DAY1 = figures((8, 3, 5, 8, 4, 3, 2, 3, 2, 715), 3 / 5, (3, 2, 2, 1), 2 / 3, 270, 294, 2 / 3)
# D2: centre D2 + north D2 = (9, 1, 5, 5, 4, 4, 0, 3, 2, 870), share 3/5.
#   Tasks c11 (900, late), c13 (1500, late), n13 (lost): 3, 2, 0, 1; rate 2/3;
#   median (900+1500)/2 = 1200; p90 900+0.9*600 = 1440; within 15 min: 900 only, 1/3.
DAY2 = figures((9, 1, 5, 5, 4, 4, 0, 3, 2, 870), 3 / 5, (3, 2, 0, 1), 2 / 3, 1200, 1440, 1 / 3)
# D3: centre D3 + north D3 = (5, 5, 3, 4, 3, 2, 0, 1, 2, 1920), share 1/3.
#   Tasks c15 (120), c18 (205), n6 (550), all on time: 3, 3, 3, 0; rate 1;
#   median 205; p90 at 0.9*2=1.8: 205+0.8*(550-205) = 481; within 15 min 3/3.
DAY3 = figures((5, 5, 3, 4, 3, 2, 0, 1, 2, 1920), 1 / 3, (3, 3, 3, 0), 1.0, 205, 481, 1.0)
# (check: 715+870+1920 = 3505, 8+9+5 = 22, tasks 3+3+3 = 9.)

# By source (a call's attribution; a task under its missed call's):
# site: c1 c5 c9 c13 c14 c18 in; answered c1 c9 c14; unique c1 c5 c13 c18; targeted c1 c9 c14;
#   missed c5 c13 c18; cc c1 c14, rec c9; talk 180+30+60 = 270; share 2/3.
#   Tasks c5 (300), c13 (1500), c18 (205): 3, 3, 2 on time, 0 lost; rate 1; sorted
#   205 300 1500: median 300, p90 at 1.8: 300+0.8*1200 = 1260; within 15 min 2/3.
SITE_ALL = figures((6, 0, 3, 4, 3, 3, 0, 2, 1, 270), 2 / 3, (3, 3, 2, 0), 1.0, 300, 1260, 2 / 3)
# yandex_direct: c2 c3 c7 c10 c11 in; answered c2 c3 c10; unique c2 c3 c7 c11; targeted c2 c10;
#   missed c7 c11 (c7 abandoned); cc c3 c10, rec c2; talk 60+15+600 = 675; share 2/3.
#   Tasks c7 (lost), c11 (900, late): 2, 1, 0, 1; rate 1/2; median = p90 = 900; within 1/2.
YANDEX_ALL = figures((5, 0, 3, 4, 2, 2, 1, 2, 1, 675), 2 / 3, (2, 1, 0, 1), 1 / 2, 900, 900,
                     1 / 2)
# prodoctorov: n2 n3 n5 n13 n6 n12 in; answered n2 n5 n12; unique n2 n3 n13 n6; targeted n2 n12;
#   missed n3 n13 n6 (n3 abandoned); cc n2, rec n5 n12; talk 40+15+60 = 115; share 1/3.
#   Tasks n3 (240), n13 (lost), n6 (550): 3, 2, 2, 1; rate 2/3; median 395, p90 519;
#   within 2/3.
PRODOCTOROV_ALL = figures((6, 0, 3, 4, 2, 3, 1, 1, 2, 115), 1 / 3, (3, 2, 2, 1), 2 / 3, 395, 519,
                          2 / 3)
# no source (null): c8 c15 c17 n1 n8 in; c4 c6 c12 c16 c19 n4 n7 n9 n10 out; answered c8 c17
#   n1 n8; unique the same four and c15; targeted c8 c17 n1 n8; missed c15; cc c8 n8, rec c17
#   n1; talk 120+120+45+120+60+300+120+120+60+120+1200+60 = 2445; share 2/4.
#   Tasks c15 (120, on time): 1, 1, 1, 0; rate 1; median = p90 = 120; within 1.
NO_SOURCE = figures((5, 9, 4, 5, 4, 1, 0, 2, 2, 2445), 2 / 4, (1, 1, 1, 0), 1.0, 120, 120, 1.0)
# (check: 270+675+115+2445 = 3505, 6+5+6+5 = 22 in, 0+0+0+9 = 9 out, tasks 3+2+3+1 = 9.)

# clinic=demo-north by day:
# D1: NORTH_D1_CALLS, share 1/2; task n3 (240, on time): 1, 1, 1, 0; rate 1; median = p90 =
#   240; within 1.
NORTH_DAY1 = figures(NORTH_D1_CALLS, 1 / 2, (1, 1, 1, 0), 1.0, 240, 240, 1.0)
# D2: NORTH_D2_CALLS, share 0/1 = 0; task n13 lost: 1, 0, 0, 1; rate 0; no callback: median and
#   p90 null; within 0/1 = 0.
NORTH_DAY2 = figures(NORTH_D2_CALLS, 0.0, (1, 0, 0, 1), 0.0, None, None, 0.0)
# D3: NORTH_D3_CALLS, share 1/2; task n6 (550, on time): 1, 1, 1, 0; rate 1; 550, 550; within 1.
NORTH_DAY3 = figures(NORTH_D3_CALLS, 1 / 2, (1, 1, 1, 0), 1.0, 550, 550, 1.0)

# source=site by day:
# D1: c1 (answered, cc, 180), c5 (missed): (2, 0, 1, 2, 1, 1, 0, 1, 0, 180), share 1/1;
#   task c5 (300, on time): 1, 1, 1, 0; rate 1; 300, 300; within 1.
SITE_DAY1 = figures((2, 0, 1, 2, 1, 1, 0, 1, 0, 180), 1.0, (1, 1, 1, 0), 1.0, 300, 300, 1.0)
# D2: c9 (rec, 30, not unique), c13 (missed, unique), c14 (cc, 60, not unique):
#   (3, 0, 2, 1, 2, 1, 0, 1, 1, 90), share 1/2; task c13 (1500, late): 1, 1, 0, 0; rate 1;
#   1500, 1500; within 0/1 = 0.
SITE_DAY2 = figures((3, 0, 2, 1, 2, 1, 0, 1, 1, 90), 1 / 2, (1, 1, 0, 0), 1.0, 1500, 1500, 0.0)
# D3: c18 (busy, unique): (1, 0, 0, 1, 0, 1, 0, 0, 0, 0), share 0/0 = null;
#   task c18 (205, on time): 1, 1, 1, 0; rate 1; 205, 205; within 1.
SITE_DAY3 = figures((1, 0, 0, 1, 0, 1, 0, 0, 0, 0), None, (1, 1, 1, 0), 1.0, 205, 205, 1.0)

RANGE = {"from": D1, "to": D3}


# --- posting ------------------------------------------------------------------

def generic(stack, cid, clinic, direction, contact, start, end=None, answered=None,
            outcome=None, ring=None, talk=None, group=None, agent=None, tracking=None,
            to=None, events=("ended",)):
    """Posts a call to POST /v1/hooks/calls/generic, as one ended event or as
    its started/answered/ended events."""
    if direction == "inbound":
        parties = {"from": contact, "to": tracking or to or CENTER_PHONE}
    else:
        parties = {"from": "101", "to": contact}
    for event in events:
        body = {"event_id": "%s-%s" % (cid, event), "clinic_id": clinic, "call_id": cid,
                "event": event, "direction": direction, "started_at": z(start)}
        body.update(parties)
        if tracking:
            body["tracking_number"] = tracking
        if event == "started":
            body["time"] = z(start)
        elif event == "answered":
            body.update(time=z(answered), answered_at=z(answered))
        else:
            body.update(time=z(end), ended_at=z(end))
            if answered:
                body["answered_at"] = z(answered)
            if outcome:
                body["outcome"] = outcome
            if ring is not None:
                body["ring_seconds"] = ring
            if talk is not None:
                body["talk_seconds"] = talk
        if group and event != "started":
            body["agent_group"] = group
            body["agent_id"] = agent or ("op-12" if group == "call_center" else "op-7")
        st, _, reply = cfstack.http(
            "POST", stack.calls.url("/v1/hooks/calls/generic"), json.dumps(body).encode(),
            {"Content-Type": "application/json", "Authorization": "Bearer " + stack.keys["ingest"]})
        assert st == 202, (cid, event, st, reply)


def mango(stack, sub, payload):
    """Posts one Mango VPBX event as Mango does: form fields vpbx_api_key,
    sign = sha256(key + json + salt), json."""
    body_json = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    sign = hashlib.sha256((MANGO_KEY + body_json + MANGO_SALT).encode()).hexdigest()
    st, _, reply = cfstack.http(
        "POST", stack.calls.url("/v1/hooks/calls/mango/demo-mango" + sub),
        urllib.parse.urlencode({"vpbx_api_key": MANGO_KEY, "sign": sign, "json": body_json}),
        {"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 200 and reply == b"", (payload.get("entry_id"), st, reply)


def mango_inbound(stack, entry, line, contact, create, talk_at=None, end=None, ext=None):
    """An inbound call's events/summary: answered (entry_result 1, talk_time
    the answer) when talk_at is given, else missed."""
    summary = {"entry_id": entry, "call_direction": 1, "from": {"number": contact.lstrip("+")},
               "to": {"extension": ext or "201"}, "line_number": line,
               "create_time": unix(create), "forward_time": unix(create) + 1,
               "talk_time": unix(talk_at) if talk_at else 0, "end_time": unix(end),
               "entry_result": 1 if talk_at else 0, "disconnect_reason": 1110}
    mango(stack, "/events/summary", summary)


def mango_outbound(stack, entry, line, contact, create, talk_at, end, ext):
    summary = {"entry_id": entry, "call_direction": 2, "from": {"extension": ext},
               "to": {"number": contact.lstrip("+")}, "line_number": line,
               "create_time": unix(create), "talk_time": unix(talk_at), "end_time": unix(end),
               "entry_result": 1, "disconnect_reason": 1110}
    mango(stack, "/events/summary", summary)


def post_phase_one(stack):
    """Every call that opens no callback task: answered and outbound calls,
    the callbacks, the call that never ends. Some repeat callers go out of
    order (the later call first), so the calls service corrects the unique
    flag with a call.updated that analytics must apply."""
    C, N = "demo-center", "demo-north"
    # A1: D2 15:00 (Mango), then D2 10:00, then D1 09:00: each later call
    # loses the flag to the earlier one as it comes.
    mango_inbound(stack, "an-c10", YANDEX, A[1], local(D2, "15:00:00"), local(D2, "15:00:10"),
                  local(D2, "15:10:10"), ext="101")
    generic(stack, "an-c9", C, "inbound", A[1], local(D2, "10:00:00"), local(D2, "10:00:40"),
            local(D2, "10:00:10"), "answered", 10, 30, "reception", tracking=SITE)
    generic(stack, "an-c1", C, "inbound", A[1], local(D1, "09:00:00"), local(D1, "09:03:10"),
            local(D1, "09:00:10"), "answered", 10, 180, "call_center", tracking=SITE,
            events=("started", "answered", "ended"))
    # A2 calls the north clinic on D3, reported before his D1 call to the centre.
    generic(stack, "an-n12", N, "inbound", A[2], local(D3, "11:00:00"), local(D3, "11:01:05"),
            local(D3, "11:00:05"), "answered", 5, 60, "reception", tracking=PRODOCTOROV)
    # c2 as Mango reports it: the IVR leg, the operator's leg ringing and
    # connected (extension 201, reception), then the summary.
    t0 = unix(local(D1, "10:00:00"))
    caller = {"number": A[2].lstrip("+")}
    ivr = {"entry_id": "an-c2", "call_id": "an-c2-1", "timestamp": t0, "seq": 1,
           "call_state": "Appeared", "location": "ivr", "from": caller,
           "to": {"number": YANDEX, "line_number": YANDEX}}
    agent = {"entry_id": "an-c2", "call_id": "an-c2-2", "timestamp": t0 + 2, "seq": 0,
             "call_state": "Appeared", "location": "abonent", "from": caller,
             "to": {"extension": "201", "line_number": YANDEX}}
    mango(stack, "/events/call", ivr)
    mango(stack, "/events/call", agent)
    mango(stack, "/events/call", dict(agent, timestamp=t0 + 5, seq=1, call_state="Connected"))
    mango_inbound(stack, "an-c2", YANDEX, A[2], local(D1, "10:00:00"), local(D1, "10:00:05"),
                  local(D1, "10:01:05"), ext="201")
    mango_inbound(stack, "an-c3", YANDEX, A[3], local(D1, "11:00:00"), local(D1, "11:00:04"),
                  local(D1, "11:00:19"), ext="101")
    generic(stack, "an-c4", C, "outbound", A[4], local(D1, "12:00:00"), local(D1, "12:02:06"),
            local(D1, "12:00:06"), "answered", 6, 120, "reception")
    generic(stack, "an-c6", C, "outbound", A[5], local(D1, "13:05:00"), local(D1, "13:07:30"),
            local(D1, "13:05:30"), "answered", 30, 120, "reception")
    # 22:30 UTC on D1: 01:30 on D2 in Moscow.
    generic(stack, "an-c8", C, "inbound", A[7], utc("2026-11-17 22:30:00"),
            utc("2026-11-17 22:31:00"), utc("2026-11-17 22:30:15"), "answered", 15, 45,
            "call_center")
    mango_outbound(stack, "an-c12", CENTER_LINE, A[8], local(D2, "11:14:00"),
                   local(D2, "11:15:40"), local(D2, "11:17:40"), ext="201")
    generic(stack, "an-c14", C, "inbound", A[9], local(D2, "16:25:00"), local(D2, "16:26:20"),
            local(D2, "16:25:20"), "answered", 20, 60, "call_center", tracking=SITE)
    generic(stack, "an-c16", C, "outbound", A[10], utc("2026-11-18 21:02:00"),
            utc("2026-11-18 21:03:20"), utc("2026-11-18 21:02:20"), "answered", 20, 60,
            "reception")
    mango_inbound(stack, "an-c17", CENTER_LINE, A[11], local(D3, "09:00:00"),
                  local(D3, "09:00:15"), local(D3, "09:05:15"), ext="201")
    generic(stack, "an-c19", C, "outbound", A[12], local(D3, "10:03:00"), local(D3, "10:05:40"),
            local(D3, "10:03:40"), "answered", 40, 120, "reception")
    mango_inbound(stack, "an-n1", NORTH_LINE, B[1], local(D1, "09:30:00"), local(D1, "09:30:20"),
                  local(D1, "09:32:20"), ext="201")
    # B2: D2 first, then D1.
    generic(stack, "an-n5", N, "inbound", B[2], local(D2, "09:00:00"), local(D2, "09:00:20"),
            local(D2, "09:00:05"), "answered", 5, 15, "reception", tracking=PRODOCTOROV)
    generic(stack, "an-n2", N, "inbound", B[2], local(D1, "12:00:00"), local(D1, "12:01:05"),
            local(D1, "12:00:25"), "answered", 25, 40, "call_center", tracking=PRODOCTOROV,
            events=("started", "answered", "ended"))
    generic(stack, "an-n4", N, "outbound", B[3], local(D1, "17:04:00"), local(D1, "17:05:08"),
            local(D1, "17:04:08"), "answered", 8, 60, "reception")
    # 01:15 on D3 in Moscow is 22:15 on D2 in UTC.
    mango_outbound(stack, "an-n7", NORTH_LINE, B[4], utc("2026-11-18 22:15:00"),
                   utc("2026-11-18 22:19:35"), utc("2026-11-18 22:21:35"), ext="101")
    mango_inbound(stack, "an-n8", NORTH_LINE, B[5], local(D3, "14:00:00"), local(D3, "14:00:30"),
                  local(D3, "14:20:30"), ext="101")
    mango_outbound(stack, "an-n9", NORTH_LINE, B[6], local(D3, "15:00:00"),
                   local(D3, "15:00:10"), local(D3, "15:01:10"), ext="201")
    generic(stack, "an-n10", N, "outbound", B[7], local(D3, "16:00:00"), local(D3, "16:00:30"),
            outcome="failed")
    generic(stack, "an-n11", N, "inbound", B[8], local(D3, "18:00:00"), tracking=PRODOCTOROV,
            events=("started",))


def post_phase_two(stack):
    """The missed calls, each after its callback (if any) is in the call store."""
    C, N = "demo-center", "demo-north"
    generic(stack, "an-c5", C, "inbound", A[5], local(D1, "13:00:00"), local(D1, "13:00:30"),
            outcome="missed", ring=30, tracking=SITE)
    # rang 6 s: abandoned (Mango: no talk_time, entry_result 0)
    mango_inbound(stack, "an-c7", YANDEX, A[6], local(D1, "14:00:00"), end=local(D1, "14:00:06"))
    mango_inbound(stack, "an-c11", YANDEX, A[8], local(D2, "11:00:00"), end=local(D2, "11:00:40"))
    generic(stack, "an-c13", C, "inbound", A[9], local(D2, "16:00:00"), local(D2, "16:00:20"),
            outcome="missed", ring=20, tracking=SITE, events=("started", "ended"))
    # 23:59:50 on D2 in Moscow, ended 00:00:20 on D3.
    generic(stack, "an-c15", C, "inbound", A[10], utc("2026-11-18 20:59:50"),
            utc("2026-11-18 21:00:20"), outcome="missed", ring=30)
    generic(stack, "an-c18", C, "inbound", A[12], local(D3, "10:00:00"), local(D3, "10:00:15"),
            outcome="busy", ring=15, tracking=SITE)
    generic(stack, "an-n3", N, "inbound", B[3], local(D1, "17:00:00"), local(D1, "17:00:08"),
            outcome="missed", ring=8, tracking=PRODOCTOROV)
    generic(stack, "an-n13", N, "inbound", B[9], local(D2, "13:00:00"), local(D2, "13:00:40"),
            outcome="missed", ring=40, tracking=PRODOCTOROV)
    # 01:10 on D3 in Moscow, 22:10 on D2 in UTC.
    generic(stack, "an-n6", N, "inbound", B[4], utc("2026-11-18 22:10:00"),
            utc("2026-11-18 22:10:25"), outcome="missed", ring=25, tracking=PRODOCTOROV)


# --- waiting --------------------------------------------------------------------

def calls_consumed(stack, group, topic, timeout=60):
    """Until the calls service's group has committed every message now on
    topic (its offsets are in calls.consumer_offsets)."""
    ends = stack.topic_ends(topic)

    def reached():
        stored = dict((int(p), int(o)) for p, o in cfstack.psql(
            stack.dsn, "SELECT partition, next_offset FROM calls.consumer_offsets"
            " WHERE group_id = '%s' AND topic = '%s'" % (group, topic)))
        return all(stored.get(p, 0) >= end for p, end in ends.items())

    wait_until(reached, timeout, "%s to reach the end of %s" % (group, topic), interval=0.2)


def calls_settled(stack):
    calls_consumed(stack, "clinicflow-calls-fold", "clinicflow.calls.raw.v1")
    calls_consumed(stack, "clinicflow-calls-tasks", CALLS)


def calls_by_provider_id(stack):
    """{provider call id: latest calls.v1 event} (every message is checked
    against its schema on the way)."""
    out = {}
    for ev in latest_by_subject(stack.reader(CALLS).read()).values():
        out[ev["data"]["provider_call_id"]] = ev
    return out


def final_tasks(stack):
    return latest_by_subject(stack.reader(TASKS).read())


# --- the test -------------------------------------------------------------------

def test_calls_report(stack):
    stack.calls = stack.start_calls(**CALLS_ENV)
    stack.start_analytics()

    post_phase_one(stack)
    calls_settled(stack)
    post_phase_two(stack)
    calls_settled(stack)
    # the two lost tasks expire at the sweeper's next rounds
    seen = []

    def tasks_final():
        seen[:] = sorted(ev["data"]["status"] for ev in final_tasks(stack).values())
        return seen == ["closed"] * 7 + ["expired"] * 2
    try:
        wait_until(tasks_final, 60, "7 closed and 2 expired callback tasks", interval=0.5)
    except AssertionError:
        raise AssertionError("tasks.v1 holds tasks %s, not 7 closed and 2 expired" % seen)
    calls_settled(stack)
    stack.wait_consumed()

    check_calls_service_output(stack)
    check_report(stack)
    stack.stop_all()


def check_calls_service_output(stack):
    """What the figures rest on: the calls service folded each call and
    task as the tables above say (a difference here is the calls service's
    or this test's, not analytics')."""
    calls = calls_by_provider_id(stack)
    want = expected_calls()
    assert sorted(calls) == sorted(want), (sorted(calls), sorted(want))
    problems = []
    for pid, w in want.items():
        d = calls[pid]["data"]
        got = dict(clinic=d.get("clinic_id"), direction=d["direction"], status=d["status"])
        if w["status"] == "ended":
            inbound = d["direction"] == "inbound"
            answered = d.get("outcome") == "answered"
            got.update(outcome=d.get("outcome"),
                       # outbound calls: neither unique nor targeted
                       unique=d.get("unique") if inbound else (d.get("unique") or None),
                       targeted=bool(d.get("targeted")),
                       group=d.get("agent_group") if inbound and answered else None,
                       talk=d.get("talk_seconds") if answered else None,
                       source=(d.get("attribution") or {}).get("source"))
        if got != w:
            problems.append("%s: calls.v1 says %s, the tables above %s" % (pid, got, w))
    assert not problems, "\n".join(problems)

    by_uuid = {ev["data"]["call_id"]: pid for pid, ev in calls.items()}
    tasks = {}
    for ev in final_tasks(stack).values():
        d = ev["data"]
        src = by_uuid.get(d.get("source_call_id"))
        assert d["kind"] == "callback" and "lead_id" not in d, d
        assert src not in tasks, ("two tasks of one missed call", d)
        tasks[src] = (d.get("clinic_id"), d["status"], d.get("seconds_to_callback"),
                      d.get("on_time"))
    assert tasks == EXPECTED_TASKS, "tasks.v1: %s\nexpected %s" % (tasks, EXPECTED_TASKS)


def check_report(stack):
    # No group_by: the one row is the totals.
    rep = stack.report(RANGE)
    assert_figures(rep["totals"], TOTAL, "totals")
    assert len(rep["rows"]) == 1, rep["rows"]
    assert_figures(rep["rows"][0], TOTAL, "the one row without group_by")

    selections = [
        ("group_by=clinic", dict(RANGE, group_by="clinic"), ["clinic"],
         {("demo-center",): CENTER, ("demo-north",): NORTH}, TOTAL),
        ("group_by=day", dict(RANGE, group_by="day"), ["day"],
         {(D1,): DAY1, (D2,): DAY2, (D3,): DAY3}, TOTAL),
        ("group_by=source", dict(RANGE, group_by="source"), ["source"],
         {("site",): SITE_ALL, ("yandex_direct",): YANDEX_ALL,
          ("prodoctorov",): PRODOCTOROV_ALL, (None,): NO_SOURCE}, TOTAL),
        ("clinic=demo-north, group_by=day", dict(RANGE, clinic="demo-north", group_by="day"),
         ["day"], {(D1,): NORTH_DAY1, (D2,): NORTH_DAY2, (D3,): NORTH_DAY3}, NORTH),
        ("source=site, group_by=day", dict(RANGE, source="site", group_by="day"), ["day"],
         {(D1,): SITE_DAY1, (D2,): SITE_DAY2, (D3,): SITE_DAY3}, SITE_ALL),
        ("one day, D2", {"from": D2, "to": D2}, [], {(): DAY2}, DAY2),
        ("group_by=day,clinic from D3", {"from": D3, "to": D3, "group_by": "day,clinic"},
         ["day", "clinic"],
         {(D3, "demo-center"): figures(CENTER_D3_CALLS, 0.0, (2, 2, 2, 0), 1.0,
                                       # c15 120, c18 205: median 162.5, p90 120+0.9*85
                                       162.5, 196.5, 1.0),
          (D3, "demo-north"): figures(NORTH_D3_CALLS, 1 / 2, (1, 1, 1, 0), 1.0, 550, 550, 1.0)},
         DAY3),
    ]
    for what, params, groups, rows, totals in selections:
        rep = stack.report(params)
        assert_figures(rep["totals"], totals, what + ": totals")
        assert_rows(rep, groups, rows, what)
        # the same selection as CSV, asked both ways
        for accept in (False, True):
            header, csv_rows = stack.report_csv(params, accept=accept)
            assert_csv_matches(header, csv_rows, rep, groups,
                               "%s as CSV (%s)" % (what, "Accept" if accept else "format=csv"))

    # The rollup holds the same call counts (every call is of these days).
    sums = stack.hourly_sums("network_id = 'demo'")
    assert sums == {f: TOTAL[f] for f in CALL_COUNT_FIELDS}, (sums, TOTAL)


if __name__ == "__main__":
    cfstack.run_on_stack(Stack, [test_calls_report])

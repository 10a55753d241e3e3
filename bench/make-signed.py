#!/usr/bin/env python3
"""Writes N pre-signed Twilio Voice status callbacks for bench/wrk/signed.lua:
"<X-Twilio-Signature>\t<path>\t<form body>" per line. The signature is
Twilio's documented scheme: base64(HMAC-SHA1(auth token, URL + every POST
parameter name and value, sorted by name)).

    make-signed.py BASE_URL AUTH_TOKEN CHANNEL N > file
"""
import base64
import hashlib
import hmac
import sys
import urllib.parse


def main():
    base, token, channel, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    path = "/v1/hooks/calls/twilio/%s" % channel
    for i in range(n):
        sid = "CA%032x" % (0xBE4C000000 + i)
        params = {
            "AccountSid": "AC00000000000000000000000000000000",
            "ApiVersion": "2010-04-01",
            "CallSid": sid,
            "CallStatus": "completed",
            "CallDuration": "52",
            "Called": "+74950000201",
            "Caller": "+7916%07d" % (i % 10000000),
            "Direction": "inbound",
            "From": "+7916%07d" % (i % 10000000),
            "To": "+74950000201",
            "SequenceNumber": "3",
            "Timestamp": "Fri, 20 Nov 2026 09:01:00 +0000",
            "CallbackSource": "call-progress-events",
        }
        signed = base + path + "".join(k + params[k] for k in sorted(params))
        sig = base64.b64encode(hmac.new(token.encode(), signed.encode(),
                                        hashlib.sha1).digest()).decode()
        print("%s\t%s\t%s" % (sig, path, urllib.parse.urlencode(params)))


if __name__ == "__main__":
    main()

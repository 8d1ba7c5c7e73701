import com.netflix.concurrency.limits.limit.Gradient2Limit;

/**
 * Records the reference behaviour of Netflix's Gradient2Limit (default builder) for
 * gradient2.test.ts: prints a CSV header, then one row per sample: rttNanos,inFlight,limitAfter,longRttNanosAfter.
 * Run by gradient2-trace.sh against a checkout of Netflix/concurrency-limits.
 */
public final class Gradient2Trace {
    public static void main(String[] args) {
        Gradient2Limit limit = Gradient2Limit.newDefault();
        StringBuilder out = new StringBuilder("rtt_nanos,in_flight,limit_after,long_rtt_nanos_after\n");
        long ms = 1_000_000L;
        int n = 0;
        // 1. Saturated (in flight = limit), low and steady latency: the limit rises.
        for (int i = 0; i < 150; i++) n = row(out, limit, 10 * ms, limit.getLimit(), n);
        // 2. Latency grows fivefold while saturated: the limit falls to the minimum.
        for (int i = 0; i < 150; i++) n = row(out, limit, 50 * ms, limit.getLimit(), n);
        // 3. Latency back to normal: the long-term RTT decays and the limit recovers.
        for (int i = 0; i < 300; i++) n = row(out, limit, 10 * ms, limit.getLimit(), n);
        // 4. App-limited (1 in flight), even with slow calls: no change.
        for (int i = 0; i < 30; i++) n = row(out, limit, 40 * ms, 1, n);
        // 5. Noisy latency around 12 ms, saturated.
        for (int i = 0; i < 200; i++) n = row(out, limit, 8 * ms + (i * 7919L % 9) * ms, limit.getLimit(), n);
        // 6. A long overload, a short calm (the long-term RTT decays faster than its window), then
        //    latency twice the calm: how low the limit goes depends on that decay.
        for (int i = 0; i < 400; i++) n = row(out, limit, 60 * ms, limit.getLimit(), n);
        for (int i = 0; i < 40; i++) n = row(out, limit, 10 * ms, limit.getLimit(), n);
        for (int i = 0; i < 100; i++) n = row(out, limit, 35 * ms, limit.getLimit(), n);
        System.out.print(out);
    }

    private static int row(StringBuilder out, Gradient2Limit limit, long rtt, int inflight, int n) {
        limit.onSample(0, rtt, inflight, false);
        out.append(rtt).append(',').append(inflight).append(',').append(limit.getLimit())
            .append(',').append(limit.getRttNoLoad(java.util.concurrent.TimeUnit.NANOSECONDS)).append('\n');
        return n + 1;
    }
}

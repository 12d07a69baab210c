package ecowarn.peer;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The line a peer prints at the end, as bench_consume and peer.py do: messages, seconds from the
 * first message to the last one's alerts in Redis, CPU per message (the whole process, every
 * thread, from the first message), peak RSS.
 */
public final class Stats {
    private volatile long first = -1;
    private long cpu0;

    /** At each message (the first one starts the clocks); any thread. */
    public void start() {
        if (first >= 0) return;
        synchronized (this) {
            if (first >= 0) return;
            cpu0 = cpu();
            first = System.nanoTime();
        }
    }

    public boolean started() {
        return first >= 0;
    }

    static long cpu() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    static long peakRssKb() {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/status")))
                if (l.startsWith("VmHWM:")) return Long.parseLong(l.replaceAll("[^0-9]", ""));
        } catch (Exception e) {
            return 0;
        }
        return 0;
    }

    public String line(long messages) {
        double secs = (System.nanoTime() - first) / 1e9;
        double cpuUs = (cpu() - cpu0) / 1e3;
        return String.format("messages=%d seconds=%.3f msgs_per_s=%.0f cpu_us_per_msg=%.3f peak_rss_kb=%d",
                messages, secs, messages / secs, cpuUs / messages, peakRssKb());
    }

    /**
     * The peers' options into a map: --brokers, --redis-port, --messages, --prefix, --group with a
     * value each, --live alone (as peer.py has them).
     */
    public static java.util.Map<String, String> args(String[] argv) {
        java.util.Map<String, String> m = new java.util.HashMap<>();
        for (int i = 0; i < argv.length; i++) {
            if (argv[i].equals("--live")) m.put("live", "1");
            else if (argv[i].startsWith("--") && i + 1 < argv.length) m.put(argv[i].substring(2), argv[++i]);
            else throw new IllegalArgumentException("unexpected " + argv[i]);
        }
        for (String need : new String[] {"brokers", "redis-port"})
            if (!m.containsKey(need)) throw new IllegalArgumentException("--" + need + " is required");
        m.putIfAbsent("messages", "0");
        m.putIfAbsent("prefix", "ecowarn:");
        return m;
    }
}

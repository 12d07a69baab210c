package ecowarn.peer;

import java.nio.charset.StandardCharsets;
import java.util.HashSet;

/** A site's rule state: its newest data time, whether it is offline, the codes over their limit. */
public final class Site {
    public long last = Long.MIN_VALUE;
    public boolean offline;
    public final HashSet<String> over = new HashSet<>();

    /** "last|offline|code,code" (Kafka Streams keeps its state as bytes). */
    public byte[] bytes() {
        return (last + "|" + (offline ? 1 : 0) + "|" + String.join(",", over)).getBytes(StandardCharsets.UTF_8);
    }

    public static Site of(byte[] b) {
        Site s = new Site();
        if (b == null) return s;
        String[] f = new String(b, StandardCharsets.UTF_8).split("\\|", -1);
        s.last = Long.parseLong(f[0]);
        s.offline = f[1].equals("1");
        if (!f[2].isEmpty()) for (String c : f[2].split(",")) s.over.add(c);
        return s;
    }

    /**
     * One record of the site: site-offline resolved if it was offline, its newest time, the
     * over-limit rule; alerts to out.
     */
    public void record(Outlet o, Record r, java.util.function.Consumer<Alert> out) {
        if (offline) {
            offline = false;
            out.accept(Rules.offline(o, r.mn, true, r.time));
        }
        last = Math.max(last, r.time);
        Rules.judge(o, r, over, out);
    }
}

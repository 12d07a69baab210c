package ecowarn.peer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Set;
import java.util.function.Consumer;

/**
 * ecowarnd's default threshold and offline rules as the peers do them (the same as
 * bench/peers/python/peer.py):
 * <ul>
 *   <li>over-limit (officer) and over-limit-reminder (enterprise): an hourly record's (CN 2061)
 *       ZsAvg, else Avg, flagged N above the outlet's hourly limit: firing / reminder when it
 *       goes over, resolved when it is back;
 *   <li>site-offline (officer): no data for 30 minutes of event time, resolved when data comes.
 * </ul>
 * The state (the codes over, a site's newest time, whether it is offline) is the caller's: each
 * framework keeps it its own way.
 */
public final class Rules {
    public static final long OFFLINE_MS = 30 * 60 * 1000L;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final DateTimeFormatter ISO =
            DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSxxx").withZone(ZoneOffset.ofHours(8));
    private static final ThreadLocal<MessageDigest> SHA = ThreadLocal.withInitial(() -> {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    });

    private Rules() {}

    /** The over-limit rule on one record; over (the codes over their limit) changes in place. */
    public static boolean judge(Outlet o, Record r, Set<String> over, Consumer<Alert> out) {
        if (o == null || !"2061".equals(r.cn)) return false;
        boolean changed = false;
        for (var lim : o.hour.entrySet()) {
            String code = lim.getKey();
            String v = r.values.get(code + "-ZsAvg");
            if (v == null) v = r.values.get(code + "-Avg");
            if (v == null || !"N".equals(r.values.getOrDefault(code + "-Flag", "N"))) continue;
            double value;
            try {
                value = Double.parseDouble(v);
            } catch (NumberFormatException e) {
                continue;
            }
            double limit = lim.getValue();
            boolean was = over.contains(code);
            if (value > limit && !was) {
                over.add(code);
                out.accept(alert("over-limit", "threshold", "firing", false, o, r.mn, r.time, code, value, limit));
                out.accept(alert("over-limit-reminder", "threshold", "reminder", true, o, r.mn, r.time, code, value, limit));
                changed = true;
            } else if (value <= limit && was) {
                over.remove(code);
                out.accept(alert("over-limit", "threshold", "resolved", false, o, r.mn, r.time, code, value, limit));
                out.accept(alert("over-limit-reminder", "threshold", "resolved", true, o, r.mn, r.time, code, value, limit));
                changed = true;
            }
        }
        return changed;
    }

    /** site-offline's firing (at: the newest data time + 30 minutes) or resolved (at: the data's). */
    public static Alert offline(Outlet o, String mn, boolean resolved, long at) {
        return alert("site-offline", "offline", resolved ? "resolved" : "firing", false, o, mn, at, null, 0, 0);
    }

    static Alert alert(String rule, String kind, String event, boolean enterprise, Outlet o, String mn,
                       long at, String pollutant, double value, double limit) {
        String eid = o != null ? o.enterpriseId : "";
        byte[] d = SHA.get().digest((rule + "|" + mn + "|" + (pollutant != null ? pollutant : ""))
                .getBytes(StandardCharsets.UTF_8));
        StringBuilder fp = new StringBuilder(16);
        for (int i = 0; i < 8; i++) fp.append(String.format("%02x", d[i] & 0xFF));
        ObjectNode ev = JSON.createObjectNode();
        ev.put("id", fp + "-" + at + "-" + event);
        ev.put("fingerprint", fp.toString());
        ev.put("rule", rule);
        ev.put("kind", kind);
        ev.put("event", event);
        ev.put("severity", "major");
        ev.put("audience", enterprise ? "enterprise" : "officer");
        ev.put("enterprise_id", eid);
        ev.put("mn", mn);
        ev.put("event_time", ISO.format(Instant.ofEpochMilli(at)));
        ev.put("detected_at", ISO.format(Instant.now()));
        ev.put("message", rule + " " + mn);
        if (pollutant != null) {
            ev.put("pollutant", pollutant);
            ev.put("value", value);
            ev.put("limit", limit);
        }
        Alert a = new Alert();
        a.fingerprint = fp.toString();
        a.audienceKey = enterprise ? "reminders:" + eid : "duty";
        a.resolved = "resolved".equals(event);
        a.json = ev.toString();
        return a;
    }
}

package ecowarn.peer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.HashMap;
import java.util.Map;

/**
 * The peers' decoders, as an integrator would write them: HJ 212-2017 packets (##LLLL, data,
 * CRC-16 in four hex digits), the JSON telemetry records, the e-enterprise platform's
 * outlet.upsert; each gives null for what it cannot read (the peers drop it, as the Python peer
 * does).
 */
public final class Decode {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ZoneOffset BEIJING = ZoneOffset.ofHours(8);
    private static final DateTimeFormatter PACKET_TIME = DateTimeFormatter.ofPattern("yyyyMMddHHmmss");
    private static final int[] CRC = new int[256];

    static {
        for (int i = 0; i < 256; i++) {
            int r = i;
            for (int k = 0; k < 8; k++) r = (r & 1) != 0 ? (r >>> 1) ^ 0xA001 : r >>> 1;
            CRC[i] = r;
        }
    }

    private Decode() {}

    static int crc(byte[] b, int from, int to) {
        int reg = 0xFFFF;
        for (int i = from; i < to; i++) reg = CRC[((reg >>> 8) ^ b[i]) & 0xFF];
        return reg;
    }

    /** An HJ 212 packet's record, or null when its frame, length or CRC is wrong. */
    public static Record hj212(byte[] p) {
        int end = p.length;
        while (end > 0 && (p[end - 1] == '\r' || p[end - 1] == '\n')) end--;
        if (end < 10 || p[0] != '#' || p[1] != '#') return null;
        int n;
        try {
            n = Integer.parseInt(new String(p, 2, 4, StandardCharsets.US_ASCII));
            if (n < 0 || 6 + n + 4 > end) return null;
            int crc = Integer.parseInt(new String(p, 6 + n, 4, StandardCharsets.US_ASCII), 16);
            if (crc(p, 6, 6 + n) != crc) return null;
        } catch (NumberFormatException e) {
            return null;
        }
        String text = new String(p, 6, n, StandardCharsets.UTF_8);
        int cp = text.indexOf("CP=&&");
        if (cp < 0) return null;
        Map<String, String> head = new HashMap<>();
        for (String kv : text.substring(0, cp).split(";")) {
            int eq = kv.indexOf('=');
            if (eq > 0) head.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        Map<String, String> values = new HashMap<>();
        int close = text.lastIndexOf("&&");
        String body = text.substring(cp + 5, close > cp + 4 ? close : text.length());
        for (String item : body.replace(',', ';').split(";")) {
            int eq = item.indexOf('=');
            if (eq > 0) values.put(item.substring(0, eq), item.substring(eq + 1));
        }
        String mn = head.get("MN"), dt = values.get("DataTime");
        if (mn == null || dt == null || dt.length() < 14) return null;
        try {
            return new Record(mn, head.get("CN"), packetTime(dt), values);
        } catch (RuntimeException e) {
            return null;
        }
    }

    static long packetTime(String dt) {
        return LocalDateTime.parse(dt.substring(0, 14), PACKET_TIME).toInstant(BEIJING).toEpochMilli();
    }

    /** A JSON telemetry record ({mn, cn, data_time, values: [{code, field, value, flag}]}). */
    public static Record telemetry(byte[] value) {
        try {
            JsonNode r = JSON.readTree(value);
            Map<String, String> values = new HashMap<>();
            for (JsonNode v : r.path("values")) {
                String code = v.get("code").asText();
                values.put(code + "-" + v.get("field").asText(), v.get("value").asText());
                if (v.hasNonNull("flag")) values.put(code + "-Flag", v.get("flag").asText());
            }
            String mn = r.get("mn").asText();
            long at = java.time.OffsetDateTime.parse(r.get("data_time").asText()).toInstant().toEpochMilli();
            return new Record(mn, r.path("cn").asText(null), at, values);
        } catch (Exception e) {
            return null;
        }
    }

    /** An outlet.upsert's outlet, or null for any other enterprise event. */
    public static Outlet outlet(byte[] value) {
        try {
            JsonNode e = JSON.readTree(value);
            if (!"outlet.upsert".equals(e.path("type").asText()) || !e.hasNonNull("mn")) return null;
            Outlet o = new Outlet();
            o.mn = e.get("mn").asText();
            o.enterpriseId = e.path("enterprise_id").asText("");
            e.path("limits").fields().forEachRemaining(l -> {
                if (l.getValue().hasNonNull("hour")) o.hour.put(l.getKey(), l.getValue().get("hour").asDouble());
            });
            return o;
        } catch (Exception e) {
            return null;
        }
    }

    /**
     * The data time of a message without decoding it (Kafka Streams' timestamp extractor runs
     * before the processor): DataTime=... of a packet, "data_time":"..." of a JSON record; -1
     * when it has none.
     */
    public static long quickTime(byte[] v) {
        String s = new String(v, StandardCharsets.ISO_8859_1);
        int i = s.indexOf("DataTime=");
        try {
            if (i >= 0 && i + 23 <= s.length()) return packetTime(s.substring(i + 9, i + 23));
            i = s.indexOf("\"data_time\":\"");
            if (i >= 0) {
                int j = s.indexOf('"', i + 13);
                return java.time.OffsetDateTime.parse(s.substring(i + 13, j)).toInstant().toEpochMilli();
            }
        } catch (RuntimeException e) {
            return -1;
        }
        return -1;
    }
}

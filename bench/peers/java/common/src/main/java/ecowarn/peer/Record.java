package ecowarn.peer;

import java.util.Map;

/** One decoded data record: an HJ 212 packet or a JSON telemetry record. */
public final class Record {
    public final String mn;
    public final String cn;
    /** DataTime as epoch milliseconds. */
    public final long time;
    /** "CODE-FIELD" -> value, as the packet has them (w01018-Avg, w01018-Flag, ...). */
    public final Map<String, String> values;

    public Record(String mn, String cn, long time, Map<String, String> values) {
        this.mn = mn;
        this.cn = cn;
        this.time = time;
        this.values = values;
    }
}

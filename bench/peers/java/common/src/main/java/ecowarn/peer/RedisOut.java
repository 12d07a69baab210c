package ecowarn.peer;

import java.util.Map;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.Pipeline;
import redis.clients.jedis.params.XAddParams;

/**
 * The peers' Redis writer (Jedis): each alert to PREFIXevents and PREFIXduty or
 * PREFIXreminders:ENTERPRISE, the active hash and the live channel (CONTRACT.md's keys), in one
 * pipeline sent every {@link #BATCH} alerts and whenever the framework flushes.
 */
public final class RedisOut implements AutoCloseable {
    public static final int BATCH = 500;
    private final Jedis jedis;
    private final String prefix;
    private Pipeline pipe;
    private int queued;

    public RedisOut(int port, String prefix) {
        this.jedis = new Jedis("127.0.0.1", port);
        this.prefix = prefix;
        this.pipe = jedis.pipelined();
    }

    public void add(Alert a) {
        Map<String, String> entry = Map.of("json", a.json);
        pipe.xadd(prefix + "events", XAddParams.xAddParams(), entry);
        pipe.xadd(prefix + a.audienceKey, XAddParams.xAddParams(), entry);
        if (a.resolved) pipe.hdel(prefix + "active", a.fingerprint);
        else pipe.hset(prefix + "active", a.fingerprint, a.json);
        pipe.publish(prefix + "live", a.json);
        if (++queued >= BATCH) flush();
    }

    public void flush() {
        if (queued == 0) return;
        pipe.sync();
        queued = 0;
    }

    @Override
    public void close() {
        flush();
        pipe.close();
        jedis.close();
    }
}

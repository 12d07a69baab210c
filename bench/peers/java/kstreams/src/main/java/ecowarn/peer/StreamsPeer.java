package ecowarn.peer;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.TimestampExtractor;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * The Kafka Streams peer of bench/province.sh: ecowarnd's default threshold and offline rules
 * (Rules) as a Kafka Streams application would do them.
 *
 * <pre>StreamsPeer --brokers LIST --redis-port P [--messages N] [--prefix P] [--group G] [--live]</pre>
 *
 * <ul>
 *   <li>the outlets (outlet.upsert of ecowarn.enterprise) in a global store keyed by MN, which
 *       every task reads;
 *   <li>ecowarn.hj212 and ecowarn.telemetry (co-partitioned: one task per partition) through one
 *       processor whose sites' state is a persistent (RocksDB, changelogged) key-value store;
 *   <li>event time from the records (a timestamp extractor reading DataTime), so the offline
 *       rule is a punctuation on stream time: each minute of a task's stream time it scans its
 *       sites for those silent 30 minutes;
 *   <li>alerts to Redis from the processor (RedisOut), flushed every 10 ms of wall-clock time.
 * </ul>
 * Everything else is Kafka Streams' defaults (at-least-once, one stream thread). With --messages
 * it stops once that many messages are processed (or after 30 s without one) and prints one
 * line of NAME=VALUE (Stats). With --live (and a new --group) it reads the data topics from
 * their end (auto.offset.reset latest; the global store reads the registry whole, as always):
 * bench/province.sh measures its latency so.
 */
public final class StreamsPeer {
    static final AtomicLong MESSAGES = new AtomicLong();
    static final Stats STATS = new Stats();

    /** Event time: the record's data time, else its Kafka timestamp. */
    public static final class DataTime implements TimestampExtractor {
        @Override
        public long extract(ConsumerRecord<Object, Object> rec, long partitionTime) {
            long t = rec.value() instanceof byte[] b ? Decode.quickTime(b) : -1;
            return t >= 0 ? t : Math.max(rec.timestamp(), partitionTime);
        }
    }

    /** The global store's processor: outlets by MN. */
    static final class Outlets implements Processor<byte[], byte[], Void, Void> {
        private KeyValueStore<String, byte[]> store;

        @Override
        public void init(ProcessorContext<Void, Void> ctx) {
            store = ctx.getStateStore("outlets");
        }

        @Override
        public void process(org.apache.kafka.streams.processor.api.Record<byte[], byte[]> rec) {
            STATS.start();
            MESSAGES.incrementAndGet();
            Outlet o = Decode.outlet(rec.value());
            if (o != null) store.put(o.mn, outletBytes(o));
        }
    }

    static byte[] outletBytes(Outlet o) {
        StringBuilder b = new StringBuilder(o.enterpriseId);
        o.hour.forEach((code, lim) -> b.append('\t').append(code).append('=').append(lim));
        return b.toString().getBytes(StandardCharsets.UTF_8);
    }

    static Outlet outletOf(String mn, byte[] b) {
        if (b == null) return null;
        String[] f = new String(b, StandardCharsets.UTF_8).split("\t");
        Outlet o = new Outlet();
        o.mn = mn;
        o.enterpriseId = f[0];
        for (int i = 1; i < f.length; i++) {
            int eq = f[i].indexOf('=');
            o.hour.put(f[i].substring(0, eq), Double.parseDouble(f[i].substring(eq + 1)));
        }
        return o;
    }

    /** The rules on the data topics, one instance per task. */
    static final class Judge implements Processor<byte[], byte[], Void, Void> {
        private final int redisPort;
        private final String prefix;
        private ProcessorContext<Void, Void> ctx;
        private KeyValueStore<String, byte[]> sites;
        private KeyValueStore<String, byte[]> outlets;
        private RedisOut out;

        Judge(int redisPort, String prefix) {
            this.redisPort = redisPort;
            this.prefix = prefix;
        }

        @Override
        public void init(ProcessorContext<Void, Void> ctx) {
            this.ctx = ctx;
            sites = ctx.getStateStore("sites");
            outlets = ctx.getStateStore("outlets");
            out = new RedisOut(redisPort, prefix);
            ctx.schedule(Duration.ofMinutes(1), PunctuationType.STREAM_TIME, this::sweep);
            ctx.schedule(Duration.ofMillis(10), PunctuationType.WALL_CLOCK_TIME, t -> out.flush());
        }

        @Override
        public void process(org.apache.kafka.streams.processor.api.Record<byte[], byte[]> rec) {
            STATS.start();
            MESSAGES.incrementAndGet();
            String topic = ctx.recordMetadata().map(m -> m.topic()).orElse("");
            Record r = topic.equals("ecowarn.telemetry") ? Decode.telemetry(rec.value()) : Decode.hj212(rec.value());
            if (r == null) return;
            Site s = Site.of(sites.get(r.mn));
            s.record(outletOf(r.mn, outlets.get(r.mn)), r, out::add);
            sites.put(r.mn, s.bytes());
        }

        /** Each minute of stream time: the sites silent for 30 minutes go offline. */
        private void sweep(long now) {
            try (KeyValueIterator<String, byte[]> it = sites.all()) {
                while (it.hasNext()) {
                    KeyValue<String, byte[]> kv = it.next();
                    Site s = Site.of(kv.value);
                    if (s.offline || now - s.last < Rules.OFFLINE_MS) continue;
                    s.offline = true;
                    out.add(Rules.offline(outletOf(kv.key, outlets.get(kv.key)), kv.key, false, s.last + Rules.OFFLINE_MS));
                    sites.put(kv.key, s.bytes());
                }
            }
        }

        @Override
        public void close() {
            out.close();
        }
    }

    public static void main(String[] argv) throws Exception {
        Map<String, String> a = Stats.args(argv);
        long messages = Long.parseLong(a.get("messages"));
        int redisPort = Integer.parseInt(a.get("redis-port"));
        String prefix = a.get("prefix");
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, a.getOrDefault("group", "peer-kstreams"));
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, a.get("brokers"));
        p.put(StreamsConfig.DEFAULT_TIMESTAMP_EXTRACTOR_CLASS_CONFIG, DataTime.class);
        p.put(StreamsConfig.STATE_DIR_CONFIG, Files.createTempDirectory("peer-kstreams").toString());
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG),
                a.containsKey("live") ? "latest" : "earliest");

        Serde<byte[]> bytes = Serdes.ByteArray();
        StreamsBuilder b = new StreamsBuilder();
        b.addGlobalStore(
                Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore("outlets"), Serdes.String(), bytes)
                        .withLoggingDisabled(),
                "ecowarn.enterprise", Consumed.with(bytes, bytes), Outlets::new);
        b.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore("sites"), Serdes.String(), bytes));
        b.stream(List.of("ecowarn.hj212", "ecowarn.telemetry"), Consumed.with(bytes, bytes))
                .process(() -> new Judge(redisPort, prefix), "sites");

        KafkaStreams streams = new KafkaStreams(b.build(), p);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> streams.close(Duration.ofSeconds(10))));
        streams.start();
        long seen = 0, heard = System.nanoTime();
        while (messages == 0 || MESSAGES.get() < messages) {
            Thread.sleep(10);
            long n = MESSAGES.get();
            if (n != seen) {
                seen = n;
                heard = System.nanoTime();
            } else if (messages > 0 && System.nanoTime() - heard > 30_000_000_000L) {
                break;
            }
        }
        // the processors' close flushes the last alerts to Redis
        if (!streams.close(Duration.ofSeconds(30))) System.err.println("StreamsPeer: did not close in 30 s");
        if (STATS.started()) System.out.println(STATS.line(MESSAGES.get()));
    }
}

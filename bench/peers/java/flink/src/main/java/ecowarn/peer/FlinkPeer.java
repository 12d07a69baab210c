package ecowarn.peer;

import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.HashSet;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeHint;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.api.common.operators.ProcessingTimeService;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.KafkaSourceBuilder;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;
import org.apache.kafka.common.TopicPartition;

/**
 * The Flink peer of bench/province.sh: ecowarnd's default threshold and offline rules (Rules)
 * as a Flink job would do them, in a local execution environment (this JVM).
 *
 * <pre>FlinkPeer --brokers LIST --redis-port P [--messages N] [--prefix P] [--group G] [--live]</pre>
 *
 * <ul>
 *   <li>one KafkaSource over the three topics, decoding in its deserializer; event time from
 *       the records' data time, watermarks per partition (bounded out-of-orderness of a minute,
 *       idle partitions left out after 5 s);
 *   <li>keyed by MN (an outlet.upsert goes to its outlet's key), a KeyedProcessFunction with the
 *       site's outlet and rule state in keyed value state, the offline rule as an event-time
 *       timer 30 minutes after its newest data (one a site: the one before is deleted when its
 *       data moves on; checked when it fires, as Flink's documentation does for timeouts);
 *   <li>alerts to Redis from a sink (RedisOut), flushed every 10 ms and at each checkpoint.
 * </ul>
 * Parallelism 1 (the benchmark gives each consumer one core), checkpoints every 30 s to files
 * in a temporary directory, the default (heap) state backend. With --messages the source is bounded by the offsets at the
 * start (the backlog) and the job ends when it has read them; the end of input moves the
 * watermark to its maximum, whose timers are not alerts (no data time has passed). With --live
 * it reads the data topics from their end and the registry from its beginning (FromEnd):
 * bench/province.sh measures its latency so. The network buffers are sent every 10 ms (Flink's
 * documentation: 5-10 ms for low latency; the default, 100 ms, is a compromise) as the Redis
 * sink is flushed.
 */
public final class FlinkPeer {
    static final AtomicLong MESSAGES = new AtomicLong();
    static final Stats STATS = new Stats();

    /**
     * A message as the source gives it: a data record of an outlet (its values only when the
     * rules look at them: an hourly record), or an outlet's registration. A POJO whose map is
     * declared as a Map, so that Flink serializes it with its own serializers, not Kryo.
     */
    public static class In {
        public String mn;
        public String cn;
        public long time;
        public Map<String, String> values;
        public Outlet outlet;
    }

    static final class Deserializer implements KafkaRecordDeserializationSchema<In> {
        @Override
        public void deserialize(ConsumerRecord<byte[], byte[]> rec, Collector<In> out) {
            STATS.start();
            MESSAGES.incrementAndGet();
            In in = new In();
            if (rec.topic().equals("ecowarn.enterprise")) {
                in.outlet = Decode.outlet(rec.value());
                if (in.outlet == null) return;
                in.mn = in.outlet.mn;
                in.time = Long.MIN_VALUE;
            } else {
                Record r = rec.topic().equals("ecowarn.telemetry") ? Decode.telemetry(rec.value())
                                                                   : Decode.hj212(rec.value());
                if (r == null) return;
                in.mn = r.mn;
                in.cn = r.cn;
                in.time = r.time;
                in.values = "2061".equals(r.cn) ? r.values : Map.of();
            }
            out.collect(in);
        }

        @Override
        public TypeInformation<In> getProducedType() {
            return TypeInformation.of(In.class);
        }
    }

    /** The rules, per outlet. */
    static final class Judge extends KeyedProcessFunction<String, In, Alert> {
        private transient ValueState<Outlet> outlet;
        private transient ValueState<Site> site;

        @Override
        public void open(org.apache.flink.api.common.functions.OpenContext ctx) {
            outlet = getRuntimeContext().getState(new ValueStateDescriptor<>("outlet", Outlet.class));
            site = getRuntimeContext().getState(new ValueStateDescriptor<>("site", TypeInformation.of(new TypeHint<Site>() {})));
        }

        @Override
        public void processElement(In in, Context ctx, Collector<Alert> out) throws IOException {
            if (in.outlet != null) {
                outlet.update(in.outlet);
                return;
            }
            Site s = site.value();
            if (s == null) s = new Site();
            long before = s.last;
            s.record(outlet.value(), new Record(in.mn, in.cn, in.time, in.values), out::collect);
            if (s.last > before) { // one timer a site: the one before is deleted
                if (before != Long.MIN_VALUE) ctx.timerService().deleteEventTimeTimer(before + Rules.OFFLINE_MS);
                ctx.timerService().registerEventTimeTimer(s.last + Rules.OFFLINE_MS);
            }
            site.update(s);
        }

        @Override
        public void onTimer(long ts, OnTimerContext ctx, Collector<Alert> out) throws IOException {
            Site s = site.value();
            if (ctx.timerService().currentWatermark() == Long.MAX_VALUE || s == null || s.offline
                    || ts != s.last + Rules.OFFLINE_MS) {
                return;
            }
            s.offline = true;
            site.update(s);
            out.collect(Rules.offline(outlet.value(), ctx.getCurrentKey(), false, ts));
        }
    }

    /** The Redis sink: RedisOut, flushed every 10 ms of processing time and on each flush. */
    static final class RedisSink implements Sink<Alert> {
        private final int port;
        private final String prefix;

        RedisSink(int port, String prefix) {
            this.port = port;
            this.prefix = prefix;
        }

        @Override
        public SinkWriter<Alert> createWriter(WriterInitContext ctx) {
            RedisOut out = new RedisOut(port, prefix);
            ProcessingTimeService time = ctx.getProcessingTimeService();
            ProcessingTimeService.ProcessingTimeCallback tick = new ProcessingTimeService.ProcessingTimeCallback() {
                @Override
                public void onProcessingTime(long now) {
                    out.flush();
                    time.registerTimer(now + 10, this);
                }
            };
            time.registerTimer(time.getCurrentProcessingTime() + 10, tick);
            return new SinkWriter<>() {
                @Override
                public void write(Alert a, Context c) {
                    out.add(a);
                }

                @Override
                public void flush(boolean endOfInput) {
                    out.flush();
                }

                @Override
                public void close() {
                    out.close();
                }
            };
        }
    }

    /** The registry from its beginning, the data topics from their end. */
    static final class FromEnd implements OffsetsInitializer {
        @Override
        public Map<TopicPartition, Long> getPartitionOffsets(Collection<TopicPartition> parts,
                                                             PartitionOffsetsRetriever offsets) {
            List<TopicPartition> registry = new ArrayList<>(), data = new ArrayList<>();
            for (TopicPartition tp : parts) (tp.topic().equals("ecowarn.enterprise") ? registry : data).add(tp);
            Map<TopicPartition, Long> at = new HashMap<>(offsets.beginningOffsets(registry));
            at.putAll(offsets.endOffsets(data));
            return at;
        }

        @Override
        public OffsetResetStrategy getAutoOffsetResetStrategy() {
            return OffsetResetStrategy.EARLIEST;
        }
    }

    public static void main(String[] argv) throws Exception {
        Map<String, String> a = Stats.args(argv);
        long messages = Long.parseLong(a.get("messages"));
        KafkaSourceBuilder<In> source = KafkaSource.<In>builder()
                .setBootstrapServers(a.get("brokers"))
                .setTopics("ecowarn.enterprise", "ecowarn.hj212", "ecowarn.telemetry")
                .setGroupId(a.getOrDefault("group", "peer-flink"))
                .setStartingOffsets(a.containsKey("live") ? new FromEnd() : OffsetsInitializer.earliest())
                .setDeserializer(new Deserializer());
        if (messages > 0) source.setBounded(OffsetsInitializer.latest());
        WatermarkStrategy<In> time = WatermarkStrategy.<In>forBoundedOutOfOrderness(Duration.ofMinutes(1))
                .withTimestampAssigner((in, ts) -> in.time)
                .withIdleness(Duration.ofSeconds(5));

        // checkpoints to files (the job manager's memory takes 5 MB of state at most)
        Configuration conf = new Configuration();
        conf.set(CheckpointingOptions.CHECKPOINT_STORAGE, "filesystem");
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY,
                Files.createTempDirectory("peer-flink").toUri().toString());
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(1);
        env.setBufferTimeout(10);
        env.enableCheckpointing(30_000);
        env.fromSource(source.build(), time, "kafka")
                .keyBy(in -> in.mn)
                .process(new Judge())
                .sinkTo(new RedisSink(Integer.parseInt(a.get("redis-port")), a.get("prefix")));
        env.execute("ecowarn-peer");
        if (STATS.started()) System.out.println(STATS.line(MESSAGES.get()));
    }
}

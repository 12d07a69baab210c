package ecowarn.peer;

/** One alert event as the peers write it to Redis (a Flink POJO). */
public class Alert {
    public String fingerprint;
    /** The stream beside ecowarn:events: duty or reminders:ENTERPRISE. */
    public String audienceKey;
    public boolean resolved;
    public String json;
}

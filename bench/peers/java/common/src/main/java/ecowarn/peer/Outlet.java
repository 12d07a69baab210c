package ecowarn.peer;

import java.util.HashMap;
import java.util.Map;

/** An outlet as outlet.upsert registers it: its enterprise and its hourly limits (a Flink POJO). */
public class Outlet {
    public String mn = "";
    public String enterpriseId = "";
    /** pollutant code -> hourly limit */
    public Map<String, Double> hour = new HashMap<>();
}

package dev.underpass.controlplane;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/** Where two JSON trees differ, as JSON pointers with both values: readable failures for big snapshots. */
public final class JsonDiff {
    private JsonDiff() {}

    public static List<String> of(JsonNode expected, JsonNode actual) {
        List<String> out = new ArrayList<>();
        diff("", expected, actual, out);
        return out;
    }

    private static void diff(String at, JsonNode a, JsonNode b, List<String> out) {
        if (a == null || b == null || a.getNodeType() != b.getNodeType() || a.isValueNode()) {
            if (a == null ? b != null : !a.equals(b)) {
                out.add(at + ": " + a + " -> " + b);
            }
            return;
        }
        if (a.isArray()) {
            for (int i = 0; i < Math.max(a.size(), b.size()); i++) {
                diff(at + "/" + i, a.get(i), b.get(i), out);
            }
            return;
        }
        Set<String> names = new LinkedHashSet<>();
        a.fieldNames().forEachRemaining(names::add);
        b.fieldNames().forEachRemaining(names::add);
        for (String n : names) {
            diff(at + "/" + n, a.get(n), b.get(n), out);
        }
    }
}

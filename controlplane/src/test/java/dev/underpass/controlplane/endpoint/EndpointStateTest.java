package dev.underpass.controlplane.endpoint;

import static dev.underpass.controlplane.api.ProblemMapper.status;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.endpoint.EndpointState.Transition;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The endpoint state table, cell by cell, against the one AWS PrivateLink documents. */
class EndpointStateTest {
    /** Rows: the current state; columns: the transition; cells: the next state, '-' where refused. */
    static final String EXPECTED = """
            state              ACCEPT   REJECT    PROVISIONED  PROVISIONING_FAILED  EXPIRE   DELETE    RELEASED
            pendingAcceptance  pending  rejected  -            -                    expired  deleting  -
            pending            -        rejected  available    failed               -        deleting  -
            available          -        rejected  -            -                    -        deleting  -
            rejected           -        -         -            -                    -        deleting  -
            failed             -        -         -            -                    -        deleting  -
            expired            -        -         -            -                    -        deleting  -
            deleting           -        -         -            -                    -        -         deleted
            deleted            -        -         -            -                    -        -         -
            """;

    /** The expected table as state -> transition -> next state (null where refused). */
    static Map<EndpointState, Map<Transition, EndpointState>> expected() {
        List<String[]> lines = EXPECTED.lines().map(l -> l.trim().split("\\s+")).toList();
        String[] header = lines.getFirst();
        Map<EndpointState, Map<Transition, EndpointState>> table = new EnumMap<>(EndpointState.class);
        for (String[] row : lines.subList(1, lines.size())) {
            Map<Transition, EndpointState> moves = new EnumMap<>(Transition.class);
            for (int i = 1; i < header.length; i++) {
                moves.put(Transition.valueOf(header[i]), row[i].equals("-") ? null : EndpointState.parse(row[i]));
            }
            assertThat(table.put(EndpointState.parse(row[0]), moves))
                    .as("row %s twice", row[0])
                    .isNull();
        }
        return table;
    }

    @Test
    void theExpectedTableHasEveryStateAndEveryTransition() {
        var table = expected();
        assertThat(table.keySet()).containsExactlyInAnyOrder(EndpointState.values());
        table.values().forEach(moves -> assertThat(moves.keySet()).containsExactlyInAnyOrder(Transition.values()));
    }

    @Test
    void everyStateAndTransitionLeadsWhereTheTableSays() {
        var table = expected();
        for (EndpointState s : EndpointState.values()) {
            EnumSet<Transition> allowed = EnumSet.noneOf(Transition.class);
            for (Transition t : Transition.values()) {
                EndpointState want = table.get(s).get(t);
                assertThat(s.after(t)).as("%s after %s", s, t).isEqualTo(want);
                if (want != null) {
                    allowed.add(t);
                }
            }
            assertThat(s.allowed()).as("allowed from %s", s).containsExactlyInAnyOrderElementsOf(allowed);
        }
    }

    @Test
    void onlyPendingAndAvailableKeepListeners() {
        assertThat(EndpointState.LISTENING).containsExactlyInAnyOrder(EndpointState.PENDING, EndpointState.AVAILABLE);
    }

    @Test
    void namesAreTheApiNamesAndUnknownOnesAreA400() {
        assertThat(Arrays.stream(EndpointState.values()).map(EndpointState::text))
                .containsExactly(
                        "pendingAcceptance",
                        "pending",
                        "available",
                        "rejected",
                        "failed",
                        "expired",
                        "deleting",
                        "deleted");
        for (EndpointState s : EndpointState.values()) {
            assertThat(EndpointState.parse(s.text())).isEqualTo(s);
        }
        assertThatThrownBy(() -> EndpointState.parse("PENDING")).isInstanceOfSatisfying(Refused.class, e -> {
            assertThat(status(e)).isEqualTo(400);
            assertThat(e.getMessage()).contains("'PENDING'", "pendingAcceptance");
        });
    }
}

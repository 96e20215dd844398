package dev.underpass.controlplane.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.DictionaryFile;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.ControlPlaneFixture;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Role;
import dev.underpass.controlplane.credential.AgentTokens;
import dev.underpass.controlplane.credential.ApiKeys;
import dev.underpass.controlplane.endpoint.Endpoints;
import dev.underpass.controlplane.service.Services;
import dev.underpass.controlplane.store.StoreConfig;
import dev.underpass.controlplane.tenancy.Accounts;
import dev.underpass.controlplane.tenancy.Users;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * Fuzzes the API's JSON input: a request body read by {@link Json#read} into the request record
 * of an operation, then that operation of the control plane, against a real in-memory store, as
 * the caller the route would have. Seeds and regression inputs:
 * {@code src/test/resources/dev/underpass/controlplane/api/ApiJsonFuzzTestInputs/request}; how
 * to fuzz: docs/fuzzing.md.
 *
 * <p>Input layout: the body, then one byte that picks the operation ({@link Operation}, the byte
 * modulo their number). Every input starts from the same store: account {@code acme} (owner, and
 * user {@code dev} with role member) has service {@code db} (port 5432) that account
 * {@code globex} may use and has requested an endpoint of; after a request that changed the
 * store, the store is put back.
 */
class ApiJsonFuzzTest {
    private static ControlPlaneFixture fixture;
    private static ControlPlane cp;
    private static Principal operator;
    private static Principal acme;
    private static Principal globex;
    private static String acmeKeyId;
    private static String acmeTokenId;
    private static String endpointId;
    private static StoreRows baseline;

    /** The operations whose body is fuzzed, in the order of the input's last byte. */
    enum Operation {
        CREATE_ACCOUNT,
        CREATE_USER,
        UPDATE_USER,
        CREATE_API_KEY,
        ROTATE_API_KEY,
        CREATE_AGENT_TOKEN,
        ROTATE_AGENT_TOKEN,
        CREATE_SERVICE,
        UPDATE_SERVICE,
        CREATE_ENDPOINT,
        ACCEPT_ENDPOINT,
        REJECT_ENDPOINT
    }

    @BeforeAll
    static void start() {
        fixture = ControlPlaneFixture.open(StoreConfig.inMemory("fuzz-" + UUID.randomUUID()));
        cp = fixture.cp;
        operator = fixture.operator;
        acme = fixture.as(fixture.account("acme"));
        globex = fixture.as(fixture.account("globex"));
        fixture.user(acme, "dev", Role.MEMBER);
        acmeKeyId = acme.keyId();
        acmeTokenId = cp.agentTokens()
                .create(acme, new AgentTokens.CreateRequest("agent", null))
                .agentToken()
                .id();
        cp.services()
                .create(
                        acme,
                        new Services.CreateRequest(
                                "db",
                                "the database",
                                List.of(new Services.Listener("tcp", 5432, List.of("db.internal:5432"))),
                                List.of("globex"),
                                true,
                                null));
        endpointId = cp.endpoints()
                .create(globex, new Endpoints.CreateRequest("acme/db"))
                .id();
        baseline = StoreRows.read(fixture);
    }

    @AfterAll
    static void stop() {
        if (fixture != null) {
            fixture.close();
        }
    }

    /**
     * Any body either succeeds (and its result can be written as JSON) or is refused with an
     * {@link ApiException} or a {@link Refused} with a 4xx status, never any other exception; and a refused request
     * leaves the store as it was.
     */
    @FuzzTest
    @DictionaryFile(resourcePath = "api-json.dict")
    void request(FuzzedDataProvider data) {
        Operation op = Operation.values()[data.consumeInt(0, Operation.values().length - 1)];
        byte[] body = data.consumeRemainingAsBytes();
        Object result;
        try {
            result = call(op, body);
        } catch (ApiException | Refused refused) {
            int status = refused instanceof ApiException api ? api.status() : ProblemMapper.status((Refused) refused);
            assertThat(status)
                    .as("%s refused with %s", op, refused.getMessage())
                    .isBetween(400, 499);
            assertThat(StoreRows.read(fixture))
                    .as("the store after a refused %s", op)
                    .isEqualTo(baseline);
            return;
        }
        assertThat(Json.write(result)).as("%s answered", op).isNotEmpty();
        StoreRows after = StoreRows.read(fixture);
        if (!after.equals(baseline)) {
            baseline.restore(fixture);
        }
    }

    private static Object call(Operation op, byte[] body) {
        return switch (op) {
            case CREATE_ACCOUNT -> cp.accounts().create(operator, Json.read(body, Accounts.CreateRequest.class));
            case CREATE_USER -> cp.users().create(acme, Json.read(body, Users.CreateRequest.class));
            case UPDATE_USER -> cp.users().update(acme, "dev", Json.read(body, Users.UpdateRequest.class));
            case CREATE_API_KEY -> cp.apiKeys().create(acme, Json.read(body, ApiKeys.CreateRequest.class));
            case ROTATE_API_KEY -> cp.apiKeys().rotate(acme, acmeKeyId, Json.read(body, ApiKeys.RotateRequest.class));
            case CREATE_AGENT_TOKEN -> cp.agentTokens().create(acme, Json.read(body, AgentTokens.CreateRequest.class));
            case ROTATE_AGENT_TOKEN ->
                cp.agentTokens().rotate(acme, acmeTokenId, Json.read(body, ApiKeys.RotateRequest.class));
            case CREATE_SERVICE -> cp.services().create(acme, Json.read(body, Services.CreateRequest.class));
            case UPDATE_SERVICE -> cp.services().update(acme, "db", Json.read(body, Services.UpdateRequest.class));
            case CREATE_ENDPOINT -> cp.endpoints().create(globex, Json.read(body, Endpoints.CreateRequest.class));
            case ACCEPT_ENDPOINT ->
                cp.endpoints().accept(acme, endpointId, Json.read(body, Endpoints.DecisionRequest.class));
            case REJECT_ENDPOINT ->
                cp.endpoints().reject(acme, endpointId, Json.read(body, Endpoints.DecisionRequest.class));
        };
    }

    /**
     * Every row of every table of the store (but Flyway's): compared as text, and put back by
     * deleting all rows, inserting these and moving each identity column past its largest value.
     */
    static final class StoreRows {
        private final List<String> tables = new ArrayList<>();
        private final List<List<Map<String, Object>>> rows = new ArrayList<>();
        private final List<List<String>> text = new ArrayList<>();

        static StoreRows read(ControlPlaneFixture f) {
            StoreRows s = new StoreRows();
            f.store.jdbi().useHandle(h -> {
                s.tables.addAll(h.createQuery("select table_name from information_schema.tables where table_schema = "
                                + "'public' and table_type = 'BASE TABLE' and table_name <> 'flyway_schema_history' "
                                + "order by table_name")
                        .mapTo(String.class)
                        .list());
                for (String t : s.tables) {
                    List<Map<String, Object>> r =
                            h.createQuery("select * from " + t).mapToMap().list();
                    s.rows.add(r);
                    s.text.add(r.stream()
                            .map(row -> new TreeMap<>(row).toString())
                            .sorted()
                            .toList());
                }
            });
            return s;
        }

        void restore(ControlPlaneFixture f) {
            f.store.jdbi().useHandle(h -> {
                h.execute("set referential_integrity false");
                try {
                    for (String t : tables) {
                        h.execute("delete from " + t);
                    }
                    for (int i = 0; i < tables.size(); i++) {
                        for (Map<String, Object> row : rows.get(i)) {
                            List<String> columns = new ArrayList<>(row.keySet());
                            var insert = h.createUpdate("insert into " + tables.get(i) + " ("
                                    + String.join(", ", columns) + ") values ("
                                    + String.join(
                                            ", ",
                                            columns.stream().map(c -> ":" + c).toList()) + ")");
                            columns.forEach(c -> insert.bind(c, row.get(c)));
                            insert.execute();
                        }
                    }
                    for (String t : tables) {
                        boolean seq =
                                h.createQuery("select count(*) from information_schema.columns where table_schema = "
                                                        + "'public' and table_name = :t and column_name = 'seq'")
                                                .bind("t", t)
                                                .mapTo(Long.class)
                                                .one()
                                        > 0;
                        if (seq) {
                            long next = h.createQuery("select coalesce(max(seq), 0) + 1 from " + t)
                                    .mapTo(Long.class)
                                    .one();
                            h.execute("alter table " + t + " alter column seq restart with " + next);
                        }
                    }
                } finally {
                    h.execute("set referential_integrity true");
                }
            });
            assertThat(read(f)).as("the store put back").isEqualTo(this);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof StoreRows other && tables.equals(other.tables) && text.equals(other.text);
        }

        @Override
        public int hashCode() {
            return text.hashCode();
        }

        @Override
        public String toString() {
            StringBuilder b = new StringBuilder();
            for (int i = 0; i < tables.size(); i++) {
                b.append(tables.get(i)).append(": ").append(text.get(i)).append('\n');
            }
            return b.toString();
        }
    }
}

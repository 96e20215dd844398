package dev.underpass.controlplane.tenancy;

import static dev.underpass.controlplane.api.ProblemMapper.status;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.ControlPlaneFixture;
import dev.underpass.controlplane.Databases;
import dev.underpass.controlplane.Db;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Role;
import dev.underpass.controlplane.core.Scope;
import dev.underpass.controlplane.core.Sql;
import dev.underpass.controlplane.credential.AuthFailures;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.sql.SQLException;
import java.time.Instant;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Users' OIDC subjects on both databases: unique per account (the index of V4, not only the
 * check before it), set by each account's own admins, and an OIDC login finds its user by the
 * account it names and the verified subject. The gateway's JWT check is stood in for by a
 * verifier that takes the token text for its subject (gateway/OidcLoginTest checks real JWTs).
 */
class OidcSubjectsTest {
    static final String ALICE = "alice@corp.example";
    static final InetSocketAddress FROM = new InetSocketAddress("192.0.2.7", 40000);

    @TempDir
    static Path dir;

    static Databases databases;

    @BeforeAll
    static void start() throws Exception {
        databases = Databases.start(dir);
    }

    @AfterAll
    static void stop() throws Exception {
        databases.close();
    }

    @ParameterizedTest
    @EnumSource(Db.class)
    void aSubjectIsUniquePerAccountAndTheLoginNamesTheAccount(Db db) throws Exception {
        ControlPlane.Oidc oidc = new ControlPlane.Oidc(
                Set.of(),
                jwt -> jwt.startsWith("sub:")
                        ? OidcLogins.Verdict.valid(jwt.substring(4))
                        : OidcLogins.Verdict.refused("malformed token"));
        try (ControlPlaneFixture f = ControlPlaneFixture.open(databases.fresh(db), new AuthFailures(), oidc)) {
            Principal acme = f.as(f.user(f.as(f.account("acme")), "ops", Role.ADMIN));
            Principal globex = f.as(f.user(f.as(f.account("globex")), "ops", Role.ADMIN));
            assertThat(acme.can(Scope.ACCOUNTS_WRITE)).isFalse();

            f.cp.users().create(acme, new Users.CreateRequest("alice", Role.MEMBER, ALICE));
            f.cp.users().create(globex, new Users.CreateRequest("al", Role.VIEWER, ALICE));
            // Users without a subject never clash.
            f.cp.users().create(acme, new Users.CreateRequest("bob", Role.VIEWER));
            f.cp.users().create(acme, new Users.CreateRequest("carol", Role.VIEWER));

            assertThatThrownBy(() -> f.cp.users().create(acme, new Users.CreateRequest("alice2", Role.VIEWER, ALICE)))
                    .isInstanceOfSatisfying(
                            Refused.class, e -> assertThat(status(e)).isEqualTo(409))
                    .hasMessage("oidcSubject: already linked to user 'alice' of account acme (expected: a subject no "
                            + "other user of the account has; remove it from alice first)");
            assertThatThrownBy(() -> f.cp.users().update(acme, "bob", new Users.UpdateRequest(null, ALICE)))
                    .isInstanceOfSatisfying(
                            Refused.class, e -> assertThat(status(e)).isEqualTo(409));

            // The index itself holds (account, subject) unique, for writes that skip the check.
            long acmeSeq = acme.accountSeq();
            assertThatThrownBy(() -> f.store
                            .jdbi()
                            .useHandle(h -> h.createUpdate("insert into users (account_seq, name, "
                                            + "role, created_at, oidc_subject) values (:a, 'dup', 'viewer', :t, :o)")
                                    .bind("a", acmeSeq)
                                    .bind("t", Sql.at(Instant.now()))
                                    .bind("o", ALICE)
                                    .execute()))
                    .hasRootCauseInstanceOf(SQLException.class)
                    .satisfies(e -> assertThat(((SQLException) rootCause(e)).getSQLState())
                            .isEqualTo("23505"));

            Principal atAcme = f.cp.oidcLogins().authenticate("sub:" + ALICE, "acme", FROM, "API");
            assertThat(atAcme.account()).isEqualTo("acme");
            assertThat(atAcme.user()).isEqualTo("alice");
            assertThat(atAcme.role()).isEqualTo(Role.MEMBER);
            assertThat(atAcme.keyId()).isEqualTo(OidcLogins.KEY_ID);
            Principal atGlobex = f.cp.oidcLogins().authenticate("sub:" + ALICE, "globex", FROM, "API");
            assertThat(atGlobex.account()).isEqualTo("globex");
            assertThat(atGlobex.user()).isEqualTo("al");

            assertThatThrownBy(() -> f.cp.oidcLogins().authenticate("sub:" + ALICE, null, FROM, "API"))
                    .isInstanceOfSatisfying(
                            Refused.class, e -> assertThat(status(e)).isEqualTo(401))
                    .hasMessageContaining("without header underpass-account (expected: the header naming the account");
            String noUser = refusal(f, "sub:" + ALICE, Accounts.OPERATOR_ACCOUNT);
            String noAccount = refusal(f, "sub:" + ALICE, "nowhere");
            assertThat(noAccount.replace("nowhere", Accounts.OPERATOR_ACCOUNT)).isEqualTo(noUser);
            assertThat(noUser)
                    .startsWith("OIDC token refused: no user of account " + Accounts.OPERATOR_ACCOUNT
                            + " has oidcSubject '" + ALICE + "'");

            // Removing the subject ends the login; another user of the account may then take it.
            f.cp.users().update(acme, "alice", new Users.UpdateRequest(null, ""));
            refusal(f, "sub:" + ALICE, "acme");
            f.cp.users().update(acme, "bob", new Users.UpdateRequest(null, ALICE));
            assertThat(f.cp.oidcLogins()
                            .authenticate("sub:" + ALICE, "acme", FROM, "API")
                            .user())
                    .isEqualTo("bob");
        }
    }

    private static String refusal(ControlPlaneFixture f, String jwt, String account) {
        try {
            f.cp.oidcLogins().authenticate(jwt, account, FROM, "API");
        } catch (Refused e) {
            assertThat(status(e)).as(e.getMessage()).isEqualTo(401);
            return e.getMessage();
        }
        throw new AssertionError("logged in to " + account);
    }

    private static Throwable rootCause(Throwable t) {
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t;
    }
}

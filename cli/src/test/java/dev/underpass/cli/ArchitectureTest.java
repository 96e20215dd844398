package dev.underpass.cli;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The layout the packages draw (README, "Layout"; docs/adr/0022-package-layout.md), checked on
 * the compiled classes of every module: no package depends on another that depends back on it,
 * modules depend one way, and the gateway's parts sit in their layers.
 */
class ArchitectureTest {
    private static final String GATEWAY = "dev.underpass.gateway";
    private static final String CONTROLPLANE = "dev.underpass.controlplane";
    private static final String AGENT = "dev.underpass.agent";
    private static JavaClasses classes;

    @BeforeAll
    static void importProduct() {
        classes = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("dev.underpass");
    }

    @Test
    void noPackageDependsOnOneThatDependsBackOnIt() {
        slices().matching("dev.underpass.(**)").should().beFreeOfCycles().check(classes);
    }

    @Test
    void modulesDependOneWay() {
        check(noClasses()
                .that()
                .resideInAPackage("dev.underpass.protocol..")
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage(
                        "dev.underpass.telemetry..",
                        "dev.underpass.controlplane..",
                        GATEWAY + "..",
                        "dev.underpass.agent..",
                        "dev.underpass.cli.."));
        check(noClasses()
                .that()
                .resideInAPackage("dev.underpass.controlplane..")
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage(GATEWAY + "..", "dev.underpass.agent..", "dev.underpass.cli.."));
        check(noClasses()
                .that()
                .resideInAPackage("dev.underpass.agent..")
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage("dev.underpass.controlplane..", GATEWAY + "..", "dev.underpass.cli.."));
        check(noClasses()
                .that()
                .resideInAPackage(GATEWAY + "..")
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage("dev.underpass.agent..", "dev.underpass.cli.."));
    }

    @Test
    void theGatewaysPartsSitInTheirLayers() {
        // Only the composition knows every part; no part knows the composition.
        check(noClasses()
                .that()
                .resideInAnyPackage(
                        sub("consumer"),
                        sub("link"),
                        sub("auth"),
                        sub("pki"),
                        sub("dns"),
                        sub("audit"),
                        sub("events"),
                        sub("observe"))
                .should()
                .dependOnClassesThat()
                .resideInAPackage(GATEWAY));
        // Consumers' entrances hand connections to the agent link, never the other way round.
        check(noClasses()
                .that()
                .resideInAnyPackage(
                        sub("link"), sub("auth"), sub("pki"), sub("dns"), sub("audit"), sub("events"), sub("observe"))
                .should()
                .dependOnClassesThat()
                .resideInAPackage(sub("consumer")));
        check(noClasses()
                .that()
                .resideInAPackage(GATEWAY + ".consumer")
                .should()
                .dependOnClassesThat()
                .resideInAPackage(sub("consumer.proxy")));
        check(noClasses()
                .that()
                .resideInAnyPackage(sub("auth"), sub("pki"), sub("dns"), sub("audit"), sub("events"), sub("observe"))
                .should()
                .dependOnClassesThat()
                .resideInAPackage(sub("link")));
        // What happens to connections is reported downwards: events know nothing of who reports or records them.
        check(noClasses()
                .that()
                .resideInAnyPackage(sub("audit"), sub("events"))
                .should()
                .dependOnClassesThat()
                .resideInAPackage(sub("observe")));
        check(noClasses()
                .that()
                .resideInAPackage(sub("events"))
                .should()
                .dependOnClassesThat()
                .resideInAPackage(sub("audit")));
        check(noClasses()
                .that()
                .resideInAPackage(sub("pki"))
                .should()
                .dependOnClassesThat()
                .resideInAPackage(sub("auth")));
    }

    @Test
    void theControlPlanesDomainKnowsNothingOfHttp() {
        // Domain refusals are typed (core.Refused); the API alone maps them to statuses and problem documents.
        check(noClasses()
                .that()
                .resideInAnyPackage(
                        CONTROLPLANE + ".core..",
                        CONTROLPLANE + ".tenancy..",
                        CONTROLPLANE + ".credential..",
                        CONTROLPLANE + ".service..",
                        CONTROLPLANE + ".endpoint..",
                        CONTROLPLANE + ".audit..",
                        CONTROLPLANE + ".store..")
                .should()
                .dependOnClassesThat()
                .resideInAPackage(CONTROLPLANE + ".api.."));
    }

    @Test
    void theAgentsPartsSitInTheirLayers() {
        // The link carries streams to targets and health reports to the gateway; targets know no link.
        check(noClasses()
                .that()
                .resideInAnyPackage(AGENT + ".config..", AGENT + ".target..", AGENT + ".health..", AGENT + ".metrics..")
                .should()
                .dependOnClassesThat()
                .resideInAPackage(AGENT + ".link.."));
        check(noClasses()
                .that()
                .resideInAnyPackage(AGENT + ".config..", AGENT + ".target..", AGENT + ".metrics..")
                .should()
                .dependOnClassesThat()
                .resideInAPackage(AGENT + ".health.."));
        check(noClasses()
                .that()
                .resideInAnyPackage(
                        AGENT + ".link..",
                        AGENT + ".config..",
                        AGENT + ".target..",
                        AGENT + ".health..",
                        AGENT + ".metrics..")
                .should()
                .dependOnClassesThat()
                .resideInAPackage(AGENT));
    }

    private static String sub(String name) {
        return GATEWAY + "." + name + "..";
    }

    private static void check(ArchRule rule) {
        rule.check(classes);
    }
}

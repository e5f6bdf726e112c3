package io.github.so4j.bench.reproduce;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.so4j.bench.Main;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class ReproduceCommandTest {

    private final StringWriter stdout = new StringWriter();
    private final StringWriter stderr = new StringWriter();

    private int run(String... args) {
        CommandLine cli = Main.commandLine();
        cli.setOut(new PrintWriter(stdout));
        cli.setErr(new PrintWriter(stderr));
        return cli.execute(args);
    }

    @Test
    void listsEveryRecipeTheIssueNames() {
        assertEquals(0, run("reproduce"));
        for (String name :
                List.of(
                        "kfac-autoencoder",
                        "mfac-optimizer",
                        "mfac-pruning",
                        "shampoo-approximation",
                        "hessian-spectrum",
                        "zo-sah")) {
            assertTrue(stdout.toString().contains(name), name + " missing:\n" + stdout);
        }
    }

    @Test
    void unknownRecipeListsTheAllowedOnes() {
        assertEquals(2, run("reproduce", "lbfgs-figure"));
        assertTrue(
                stderr.toString()
                        .contains("unknown recipe 'lbfgs-figure'; allowed: kfac-autoencoder,"),
                stderr.toString());
    }
}

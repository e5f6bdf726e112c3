package io.github.so4j.optimizers;

import io.github.so4j.curvature.kfac.InversionMode;
import java.util.List;
import java.util.function.BiConsumer;
import java.util.function.IntFunction;
import java.util.function.IntUnaryOperator;

/**
 * The registry that drives the contract tests: every so4j optimizer, built with settings that suit
 * the small contract problems, and what it needs between backward and update (SubspaceNewton and
 * Smb read the batch there; Muon is given the model, whose parameter order tells it the output
 * layer).
 */
final class So4jOptimizers {

    private So4jOptimizers() {}

    /**
     * One optimizer configuration.
     *
     * @param name a name for test reports
     * @param factory builds a fresh optimizer with the given maxConsecutiveSkips
     * @param afterBackward what to call between backward and the update
     * @param stepsWithReads of n steps without a rejected one, how many read from the device: the
     *     amortized steps of the entry's settings
     */
    record Entry(
            String name,
            IntFunction<SecondOrderOptimizer> factory,
            BiConsumer<SecondOrderOptimizer, ContractProblem> afterBackward,
            IntUnaryOperator stepsWithReads) {

        SecondOrderOptimizer build() {
            return factory.apply(100);
        }

        SecondOrderOptimizer withMaxConsecutiveSkips(int skips) {
            return factory.apply(skips);
        }

        /** Backward, the optimizer's hook, update: one training step. */
        void step(SecondOrderOptimizer optimizer, ContractProblem problem) {
            problem.backward();
            afterBackward.accept(optimizer, problem);
            problem.update();
        }

        @Override
        public String toString() {
            return name;
        }
    }

    private static final BiConsumer<SecondOrderOptimizer, ContractProblem> NOTHING =
            (optimizer, problem) -> {};

    private static final BiConsumer<SecondOrderOptimizer, ContractProblem> SUBSPACE =
            (optimizer, problem) ->
                    ((SubspaceNewton) optimizer)
                            .prepare(problem.block, problem.loss, problem.data, problem.labels);

    private static final BiConsumer<SecondOrderOptimizer, ContractProblem> SMB =
            (optimizer, problem) ->
                    ((Smb) optimizer)
                            .prepare(problem.block, problem.loss, problem.data, problem.labels);

    /** Muon's default rule finds the output layer in the model's parameter order. */
    private static final BiConsumer<SecondOrderOptimizer, ContractProblem> NAME_PARAMETERS =
            (optimizer, problem) -> optimizer.nameParameters(problem.block);

    static List<Entry> all() {
        return List.of(
                new Entry(
                        "mfac-global",
                        skips ->
                                MFac.builder()
                                        .optWindowSize(4)
                                        .optDamping(1e-2)
                                        .optMomentum(0.5f)
                                        .optLearningRate(0.01f)
                                        .optMaxConsecutiveSkips(skips)
                                        .build(),
                        NOTHING,
                        n -> 0),
                new Entry(
                        "mfac-per-parameter",
                        skips ->
                                MFac.builder()
                                        .optWindowSize(3)
                                        .optDamping(1e-2)
                                        .optScope(MFac.Scope.PER_PARAMETER)
                                        .optLearningRate(0.01f)
                                        .optMaxConsecutiveSkips(skips)
                                        .build(),
                        NOTHING,
                        n -> 0),
                new Entry(
                        "subspace-newton",
                        skips ->
                                SubspaceNewton.builder()
                                        .optDimension(2)
                                        .optDamping(1e-2)
                                        .optLearningRate(1f)
                                        .optMaxConsecutiveSkips(skips)
                                        .build(),
                        SUBSPACE,
                        n -> n),
                new Entry(
                        "subspace-newton-eigen",
                        skips ->
                                SubspaceNewton.builder()
                                        .optSubspace(SubspaceNewton.Subspace.EIGEN)
                                        .optDimension(2)
                                        .optRefreshEvery(3)
                                        .optDamping(1e-2)
                                        .optLearningRate(1f)
                                        .optMaxConsecutiveSkips(skips)
                                        .build(),
                        SUBSPACE,
                        n -> n),
                new Entry(
                        "kfac",
                        skips ->
                                Kfac.builder()
                                        .optDamping(1e-1f)
                                        .optMomentum(0f)
                                        .optFactorUpdateFrequency(1)
                                        .optInverseUpdateFrequency(2)
                                        .optLearningRate(0.05f)
                                        .optMaxConsecutiveSkips(skips)
                                        .build(),
                        NOTHING,
                        n -> n / 2),
                new Entry(
                        "kfac-low-rank",
                        skips ->
                                Kfac.builder()
                                        .optInversion(InversionMode.LOW_RANK)
                                        .optFactorRank(2)
                                        .optDamping(1e-1f)
                                        .optMomentum(0f)
                                        .optFactorUpdateFrequency(1)
                                        .optInverseUpdateFrequency(2)
                                        .optLearningRate(0.05f)
                                        .optMaxConsecutiveSkips(skips)
                                        .build(),
                        NOTHING,
                        n -> n / 2),
                new Entry(
                        "shampoo",
                        skips ->
                                Shampoo.builder()
                                        .optMaxPreconditionerDim(2)
                                        .optPreconditionFrequency(2)
                                        .optMomentum(0.5f)
                                        .optLearningRate(0.01f)
                                        .optMaxConsecutiveSkips(skips)
                                        .build(),
                        NOTHING,
                        n -> n / 2),
                new Entry(
                        "muon",
                        skips ->
                                Muon.builder()
                                        .optLearningRate(0.02f)
                                        .optAdamLearningRate(0.01f)
                                        .optMaxConsecutiveSkips(skips)
                                        .build(),
                        NAME_PARAMETERS,
                        n -> 0),
                new Entry(
                        "soap",
                        skips ->
                                Soap.builder()
                                        .optMaxPreconditionerDim(4)
                                        .optPrecondition1d(true)
                                        .optPreconditionFrequency(2)
                                        .optLearningRate(0.01f)
                                        .optMaxConsecutiveSkips(skips)
                                        .build(),
                        NOTHING,
                        // the first step starts the bases, then a refresh every 2 Adam steps
                        n -> n == 0 ? 0 : 1 + (n - 1) / 2),
                new Entry(
                        "smb",
                        skips ->
                                Smb.builder()
                                        .optLearningRate(0.01f)
                                        .optMaxConsecutiveSkips(skips)
                                        .build(),
                        SMB,
                        n -> 0),
                new Entry(
                        "smb-autoschedule",
                        skips ->
                                Smb.builder()
                                        .optLearningRate(0.01f)
                                        .optAutoSchedule(true)
                                        .optScheduleWindow(3)
                                        .optMaxConsecutiveSkips(skips)
                                        .build(),
                        SMB,
                        // the schedule decides every 3 steps
                        n -> n / 3),
                // the low-rank methods at rank up to 2 and no cap on the fraction, so that every
                // matrix of the contract problems is projected (the vectors of the quadratic and
                // Rosenbrock problems as 1 x d matrices on their single row)
                new Entry(
                        "dct-adam",
                        skips ->
                                DctAdam.builder()
                                        .optRank(2)
                                        .optMinRank(1)
                                        .optMaxRankFraction(1)
                                        .optUpdatePeriod(3)
                                        .optLearningRate(0.01f)
                                        .optMaxConsecutiveSkips(skips)
                                        .build(),
                        NAME_PARAMETERS,
                        // the first step and the refresh steps t = 3, 6, ... are decided on the
                        // host
                        n -> n == 0 ? 0 : 1 + n / 3),
                new Entry(
                        "galore",
                        skips ->
                                GaLore.builder()
                                        .optRank(2)
                                        .optMinRank(1)
                                        .optMaxRankFraction(1)
                                        .optUpdatePeriod(2)
                                        .optLearningRate(0.01f)
                                        .optMaxConsecutiveSkips(skips)
                                        .build(),
                        NAME_PARAMETERS,
                        // bases at the first step and every 2 steps after it: t = 1, 3, 5, ...
                        n -> (n + 1) / 2),
                new Entry(
                        "osd",
                        skips ->
                                OnlineSubspaceDescent.builder()
                                        .optRank(2)
                                        .optMinRank(1)
                                        .optMaxRankFraction(1)
                                        .optUpdatePeriod(4)
                                        .optLearningRate(0.01f)
                                        .optMaxConsecutiveSkips(skips)
                                        .build(),
                        NAME_PARAMETERS,
                        // the first basis by the subspace iteration; then products only
                        n -> n == 0 ? 0 : 1));
    }
}

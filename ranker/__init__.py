"""Arachne ranker: rank pre-trained TinyML models for a task and a device.

Pure Python API (numpy, torch; scikit-learn for the hardware regressors), no
store dependency:

- ranker.aggregation     Copeland, Borda, RRF, weighted sum, lexicographic, Pareto; explain()
- ranker.transferability LogME, LEEP, NCE, H-score (raw and Ledoit-Wolf shrinkage)
- ranker.metrics         weighted tau (Model Spider convention), NDCG@k, top-1 regret, Spearman
- ranker.spider          SpiderRanker / FusionRanker (learned task-aware and hardware-aware rankers)
- ranker.hardware        LatencyModel / MeasurementModel, memory_headroom
- ranker.evaluation      offline evaluation on ../shared/data (benchmarks only)
"""

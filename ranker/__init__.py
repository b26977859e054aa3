"""Arachne ranker: rank pre-trained TinyML models for a task and a device.

Pure Python API (numpy, torch; scikit-learn for the hardware regressors), no
store dependency:

- ranker.aggregation     Copeland, Borda, RRF, weighted sum, lexicographic, Pareto; explain()
- ranker.transferability LogME, LEEP, NCE, H-score (raw and Ledoit-Wolf shrinkage)
- ranker.metrics         weighted tau (Model Spider convention), NDCG@k, top-1 regret, Spearman
- ranker.spider          SpiderRanker / FusionRanker (learned task-aware and hardware-aware rankers)
- ranker.transfer        task fitness from a transfer table (model x dataset accuracies): TransferRanker,
                         predicted accuracy with a conformal interval, leave-one-dataset-out evaluation
- ranker.hardware        LatencyModel / MeasurementModel, memory_headroom
- ranker.evaluation      offline evaluation on ../shared/data (benchmarks only)

Over the knowledge graph (these read a kg store):

- ranker.recommend       recommend(store, Request, method=...) -> Recommendation (the product's entry point)
- ranker.graph_facts     model / device / benchmark facts by SPARQL, LatencyModel rows, model files
- ranker.graph_rankers   Spider / Fusion rankers trained on the graph's benchmark groups, their files;
                         the graph as a transfer table and predicted_accuracy over it
- ranker.tflm_forward    running a .tflite on the host (TFLite Micro) for the transferability scores
"""

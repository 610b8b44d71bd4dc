"""The one partitions definition: a dynamic partition per population, keyed by the population key."""

from dagster import DynamicPartitionsDefinition

from azt3knet_pipeline.names import POPULATION_PARTITIONS_NAME

population_partitions = DynamicPartitionsDefinition(name=POPULATION_PARTITIONS_NAME)

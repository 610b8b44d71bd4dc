"""The one partitions definition: a dynamic partition per population, keyed by the population key."""

from dagster import DynamicPartitionsDefinition

POPULATION_PARTITIONS_NAME = "population"

population_partitions = DynamicPartitionsDefinition(name=POPULATION_PARTITIONS_NAME)

-- A second database for the DuckLake catalog of the thresher lake (Prefect uses its own).
CREATE DATABASE lake;

"""Who gets in: the join endpoint, signed join grants, standard HLS players' tickets."""
